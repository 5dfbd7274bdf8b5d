"""Overlapping runs of one work order and node, on DuckDB and PostgreSQL. Inside one extraction batch
the later one is quarantined before load (tests/test_bad_inputs.py). Arriving in different batches, each
batch is clean on its own and both are landed: dbt's `runs_do_not_overlap` test on the base table names
them as a warning check in Dagster, without stopping the marts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance

from tests.conftest import deployed_instance, query

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

SOURCE = """\
name: shop_runs
kind: file
path: "{data_dir}/drops/runs_{date:%Y%m%d}.csv"
time_zone: Asia/Shanghai
shape: intervals
freshness: "off"
quarantine_limit: 0.5  # one row of a four-row batch
columns: {source_row_key: id, work_order_id: wo, node: node, start_at: start, end_at: end}
process: BROADBAND
nodes: {BROADBAND: {ACCEPT: ACCEPT}}
"""
DROPS = {
    "2026-10-05": [
        ("K1", "W1", "ACCEPT", "2026-10-05 09:00:00", "2026-10-05 12:00:00"),
        ("K2", "W2", "ACCEPT", "2026-10-05 09:00:00", "2026-10-05 10:00:00"),
    ],
    "2026-10-06": [
        ("K3", "W1", "ACCEPT", "2026-10-05 11:00:00", "2026-10-06 09:00:00"),  # overlaps K1, a day later
        ("K4", "W2", "ACCEPT", "2026-10-06 09:00:00", "2026-10-06 10:00:00"),  # W2's second visit: fine
    ],
}


def _run_daily(instance: DagsterInstance, first: str, last: str):
    from orchestration.definitions import build_defs

    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return build_defs().resolve_job_def("daily_job").execute_in_process(instance=instance, tags=tags)


def _overlap_check(result):
    (check,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == AssetKey("fct_node_runs") and e.check_name.startswith("runs_do_not_overlap")
    ]
    return check


def test_overlap_across_batches_warns_and_inside_a_batch_is_quarantined(pipeline_env: Path) -> None:
    drops = pipeline_env / "drops"
    drops.mkdir()
    for day, rows in DROPS.items():
        frame = pd.DataFrame(rows, columns=["id", "wo", "node", "start", "end"])
        frame.to_csv(drops / f"runs_{day.replace('-', '')}.csv", index=False)
    (pipeline_env / "sources_config" / "shop_runs.yaml").write_text(SOURCE, encoding="utf-8")
    from orchestration.definitions import build_defs

    with deployed_instance() as instance:
        assert build_defs().resolve_job_def("reference_job").execute_in_process(instance=instance).success
        first = _run_daily(instance, "2026-10-05", "2026-10-05")
        assert _overlap_check(first).passed

        # The next day's batch is clean on its own: K3 lands, and the base table now holds two ACCEPT
        # runs of W1 at once. The check warns; the marts are built.
        second = _run_daily(instance, "2026-10-06", "2026-10-06")
        check = _overlap_check(second)
        assert not check.passed and check.severity == AssetCheckSeverity.WARN
        assert check.metadata["dagster_dbt/failed_row_count"].value == 1
        assert second.success
        states = query("select period_id, work_order_id, visit from {s}.node_run_states_daily")
        assert {"day:2026-10-06"} <= set(states.period_id)
        assert set(query("select visit from {s}.fct_node_runs where work_order_id = 'W1'").visit) == {1, 2}

        # Both days in one batch (a backfill of the range): the batch sees the overlap and quarantines
        # the later-starting run; the base table is rebuilt without it and the check passes.
        both = _run_daily(instance, "2026-10-05", "2026-10-06")
        assert _overlap_check(both).passed
        quarantined = query("select reason_code, raw_record from {s}_landing.quarantine")
        assert list(quarantined.reason_code) == ["overlapping_run"] and "K3" in quarantined.raw_record.iloc[0]
        runs = query("select work_order_id, visit from {s}.fct_node_runs order by work_order_id, visit")
        assert list(runs.itertuples(index=False, name=None)) == [("W1", 1), ("W2", 1), ("W2", 2)]
