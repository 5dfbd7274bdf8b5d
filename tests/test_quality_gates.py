"""The quality gates in the running pipeline, on DuckDB and PostgreSQL: a day whose quarantined share
is above the limit fails its blocking check and stops the marts downstream, which keep serving the
previous results whole; within the limit the check only warns and the marts update. The operator's
summary table records both, and the demo generator's bad-row option is what produces the bad day."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance

from demo import generator as gen
from orchestration.quality.checks import GX_LANDING, QUARANTINE_SHARE, ROWS_RECONCILE
from orchestration.quality.freshness import SOURCE_FRESHNESS
from orchestration.quality.model_checks import GX_CHECK
from orchestration.quality.volume import VOLUME
from orchestration.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR
from tests.conftest import deployed_instance, query, use_source, warehouse_of_env

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

START = dt.date(2026, 10, 1)
NOW = dt.datetime(2026, 10, 12, 6, 0, tzinfo=dt.UTC)
GOOD_DAYS = ("2026-10-03", "2026-10-04")
BAD_DAY = dt.date(2026, 10, 5)
SOURCE = "settlement_files"
MART_KEYS = [AssetKey("fct_node_runs"), AssetKey("node_run_states_daily"), AssetKey("achievement_rates_daily")]


def _run_daily(instance: DagsterInstance, first: str, last: str):
    from orchestration.definitions import build_defs

    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return (
        build_defs().resolve_job_def("daily_job").execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    )


def _marts() -> dict[str, pd.DataFrame]:
    states = query("select * from {s}.node_run_states_daily order by period_node_run_id")
    rates = query("select * from {s}.achievement_rates_daily order by achievement_rate_id")
    return {"states": states, "rates": rates}


def _checks(result) -> dict[str, object]:
    """The run's checks on the extraction asset, by name."""
    return {
        e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == AssetKey(["landing", SOURCE])
    }


def _model_checks(result) -> dict[AssetKey, object]:
    return {e.asset_key: e for e in result.get_asset_check_evaluations() if e.check_name == GX_CHECK}


def _assert_marts_whole(marts: dict[str, pd.DataFrame]) -> None:
    """Every period's classified runs equal the runs counted by its rates: no half-written mart."""
    per_period = marts["states"].groupby("period_id").size()
    totals = marts["rates"][marts["rates"].grouping_level == "all"].set_index("period_id").total_runs
    assert per_period.to_dict() == totals.astype(int).to_dict()


def test_bad_day_blocks_its_marts_and_the_previous_marts_stay_whole(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMITMENTS_GX_CHECKS", "true")  # the whole gate, Great Expectations included
    truth = gen.generate_truth(START, NOW, orders_per_day=150)
    drops = pipeline_env / "drops" / "settlement"
    gen.write_settlement_files(truth, drops, START, dt.date(2026, 10, 12))
    use_source(pipeline_env, SOURCE)
    from orchestration.definitions import build_defs  # after the source is declared: importing builds defs

    with deployed_instance() as instance:
        assert build_defs().resolve_job_def("reference_job").execute_in_process(instance=instance).success
        good = _run_daily(instance, *GOOD_DAYS)
        assert good.success
        assert set(_checks(good)) == {GX_LANDING, ROWS_RECONCILE, QUARANTINE_SHARE, SOURCE_FRESHNESS, VOLUME}
        assert all(c.passed for c in _checks(good).values())
        # The base table and each daily mart passed their suites, each check linking the suite's Data Docs page.
        suites = _model_checks(good)
        assert set(suites) == set(MART_KEYS) | {AssetKey("work_order_status_daily")}
        assert all(c.passed for c in suites.values())
        docs = suites[AssetKey("fct_node_runs")].metadata["data_docs"].value
        assert docs.startswith("file://") and Path(docs.removeprefix("file://")).is_file()
        before = _marts()
        assert set(before["states"].period_id) == {f"day:{d}" for d in GOOD_DAYS}
        _assert_marts_whole(before)

        # 5% of the day's rows carry an unknown activity code: above the 1% limit.
        n_rows = len(pd.read_csv(drops / f"jiesuan_{BAD_DAY:%Y%m%d}.csv", encoding="gb18030"))
        n_bad = gen.inject_bad_rows(drops, BAD_DAY, 0.05)
        assert n_rows >= 40 and n_bad == -(-n_rows * 5 // 100)
        blocked = _run_daily(instance, BAD_DAY.isoformat(), BAD_DAY.isoformat())

        assert not blocked.success
        checks = _checks(blocked)
        assert checks[ROWS_RECONCILE].passed  # nothing lost: the bad rows are in quarantine
        share = checks[QUARANTINE_SHARE]
        assert not share.passed and share.severity == AssetCheckSeverity.ERROR
        assert share.metadata["partitions_over_limit"].value == 1
        # The landing happened (and is visible to the operator), the marts downstream did not run.
        materialized = {e.asset_key for e in blocked.get_asset_materialization_events()}
        assert AssetKey(["landing", SOURCE]) in materialized
        assert not materialized & set(MART_KEYS)
        assert not _model_checks(blocked)  # nothing built, nothing to validate
        after = _marts()
        for name in before:
            pd.testing.assert_frame_equal(after[name], before[name], obj=name)

        summary = query(
            "select * from {s}_landing.quality_summary where source_system = 'settlement_files' order by partition_date"
        )
        bad = summary[pd.to_datetime(summary.partition_date).dt.date == BAD_DAY].iloc[0]
        assert (int(bad.rows_received), int(bad.rows_quarantined)) == (n_rows, n_bad)
        assert int(bad.rows_accepted) == n_rows - n_bad
        assert bad.quarantined_by_reason == f'{{"unknown_node": {n_bad}}}'
        assert bad.blocking_failures == QUARANTINE_SHARE and int(bad.checks_failed) == 1
        assert (summary[pd.to_datetime(summary.partition_date).dt.date != BAD_DAY].checks_failed == 0).all()

        # The service-quality team accepts up to 10% for this source: the same day now warns and publishes.
        declaration = pipeline_env / "sources_config" / f"{SOURCE}.yaml"
        config = yaml.safe_load(declaration.read_text(encoding="utf-8"))
        declaration.write_text(yaml.safe_dump({**config, "quarantine_limit": 0.1}, allow_unicode=True), "utf-8")
        from orchestration.sources.config import _load_all

        _load_all.cache_clear()
        warned = _run_daily(instance, BAD_DAY.isoformat(), BAD_DAY.isoformat())
        assert warned.success
        share = _checks(warned)[QUARANTINE_SHARE]
        assert not share.passed and share.severity == AssetCheckSeverity.WARN
        published = _marts()
        assert f"day:{BAD_DAY}" in set(published["states"].period_id)
        _assert_marts_whole(published)
        # The day's classified runs never include the quarantined rows.
        assert not query("select * from {s}.fct_node_runs where node_code = '质检'").shape[0]

    # A mart that lost a run no longer adds up to the base table: dbt's reconciliation test (a blocking
    # check in Dagster) fails.

    warehouse = warehouse_of_env()
    with warehouse.connect() as conn:
        conn.cursor().execute(
            f"delete from {warehouse.schema_name}.node_run_states_daily where period_node_run_id = "
            f"(select min(period_node_run_id) from {warehouse.schema_name}.node_run_states_daily "
            f"where period_id = 'day:{BAD_DAY}')"
        )
    window = {"window_start": BAD_DAY.isoformat(), "window_end": (BAD_DAY + dt.timedelta(days=1)).isoformat()}
    tested = subprocess.run(
        [DBT_EXECUTABLE, "test", "--select", "achievement_rates_daily", "--vars", json.dumps(window)]
        + ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
        + ["--target-path", str(pipeline_env / "dbt_target")],
        capture_output=True,
        text=True,
        cwd=DBT_PROJECT_DIR,
    )
    assert tested.returncode != 0
    failed = [line for line in tested.stdout.splitlines() if "FAIL" in line and "runs_reconcile_with_base" in line]
    assert failed, tested.stdout[-2000:]


def _failure_messages(result) -> list[str]:
    return [
        e.step_failure_data.user_failure_data.description
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.user_failure_data is not None
    ]


def _published() -> dict[str, pd.DataFrame]:
    key = ["work_order_id", "node_code", "visit"]
    return {
        "fct_node_runs": query("select * from {s}.fct_node_runs").sort_values(key).reset_index(drop=True),
        **{
            table: query(f"select * from {{s}}.{table}").sort_values("period_node_run_id").reset_index(drop=True)
            for table in ("node_run_states_daily", "node_run_states_weekly")
        },
    }


def test_a_blocked_day_feeds_no_later_run_until_it_is_reprocessed(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The partition whose quarantine check blocked its own run keeps its accepted remainder in landing;
    the next day's daily run and the week's run must refuse to build on it (they published from it, one
    run short, and exited 0), and after the source is fixed and the day reprocessed they converge."""
    from orchestration.quality.cli import reprocess
    from orchestration.quality.held import held_partitions
    from orchestration.settings import Settings

    truth = gen.generate_truth(START, NOW, orders_per_day=60)
    drops = pipeline_env / "drops" / "settlement"
    gen.write_settlement_files(truth, drops, START, dt.date(2026, 10, 12))
    use_source(pipeline_env, SOURCE)
    from orchestration.definitions import build_defs

    blocked_day, next_day, week = dt.date(2026, 10, 8), "2026-10-09", "2026-10-05"
    defs = build_defs()
    with deployed_instance() as instance:

        def weekly():
            job = defs.resolve_job_def("weekly_job")
            return job.execute_in_process(instance=instance, partition_key=week, raise_on_error=False)

        assert defs.resolve_job_def("reference_job").execute_in_process(instance=instance).success
        assert _run_daily(instance, "2026-10-03", "2026-10-11").success and weekly().success
        baseline = _published()

        clean = (drops / f"jiesuan_{blocked_day:%Y%m%d}.csv").read_bytes()
        gen.inject_bad_rows(drops, blocked_day, 0.05)
        assert not _run_daily(instance, blocked_day.isoformat(), blocked_day.isoformat()).success

        # Its landing holds the accepted remainder, but neither the next day nor the week builds on it.
        for refused in (_run_daily(instance, next_day, next_day), weekly()):
            assert not refused.success
            (message,) = _failure_messages(refused)
            assert f"settlement_files {blocked_day} (quarantine_share)" in message
            assert f"reprocess --source settlement_files --partition {blocked_day}" in message
        for name, frame in _published().items():
            pd.testing.assert_frame_equal(frame, baseline[name], obj=name)

        # The source is fixed and the day reprocessed: it passes, is no longer held, and the runs converge.
        (drops / f"jiesuan_{blocked_day:%Y%m%d}.csv").write_bytes(clean)
        summary = reprocess(warehouse_of_env(), Settings.load(), SOURCE, blocked_day)
        assert summary.blocking_failures.tolist() == [""]
        assert held_partitions(warehouse_of_env(), dt.date(2026, 10, 11)).empty
        assert _run_daily(instance, next_day, next_day).success and weekly().success
        for name, frame in _published().items():
            pd.testing.assert_frame_equal(frame, baseline[name], obj=name)
