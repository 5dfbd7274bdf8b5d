"""The BI-safe reporting layer (dbt_project/models/reporting) on DuckDB and PostgreSQL, end to end through a
file source and the Dagster jobs: the views hold exactly the marts' numbers with names, labels and local
time joined; the counts documented as additive add up; the live view's SLA columns; data quality per
source and day; descriptions in the database; the read-only DuckDB snapshot a reader holds while a run
writes; the read-only PostgreSQL role for BI tools.

Business zone Asia/Shanghai (UTC+8). Commitments (tests/fixtures/commitments_cases.yaml): BROADBAND ACCEPT
* 1h/2h, ACCEPT VIP 30min/1h, DISPATCH 2h/4h (the version in force from 2026-03-10 12:00), INSTALL none.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests.conftest import PG_ENV, deployed_instance, query, warehouse_of_env

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

FIXTURES = Path(__file__).parent / "fixtures"
# wo, node, segment, start, end, cancelled (UTC); local = UTC+8
CASES = """\
wo,process,node,segment,dept,start,end,cancelled
NORMAL,KDZJ,ACCEPT,公众,营业厅,2026-03-30T01:00:00,2026-03-30T02:00:00,
WARNING,KDZJ,ACCEPT,公众,营业厅,2026-03-30T01:00:00,2026-03-30T04:00:00,
ACROSS_MONTHS,KDZJ,ACCEPT,公众,营业厅,2026-03-30T10:00:00,2026-04-01T02:00:00,
VIP,KDZJ,ACCEPT,VIP,营业厅,2026-03-31T01:00:00,2026-03-31T01:20:00,
DISPATCHED,KDZJ,DISPATCH,公众,调度中心,2026-03-31T01:00:00,2026-03-31T02:30:00,
UNCOMMITTED,KDZJ,INSTALL,公众,装维中心,2026-03-31T01:00:00,2026-03-31T02:00:00,
CANCELLED,KDZJ,ACCEPT,公众,营业厅,2026-03-31T03:00:00,,2026-03-31T04:00:00
OPEN_OVERDUE,KDZJ,ACCEPT,公众,营业厅,2026-04-01T01:00:00,,
OPEN_IN_TIME,KDZJ,DISPATCH,公众,调度中心,2026-04-01T02:00:00,,
BROKEN,KDZJ,ACCEPT,公众,营业厅,not-a-time,,
"""
SOURCE = """\
name: cases
kind: file
path: "{data_dir}/cases.csv"
time_zone: UTC
shape: intervals
quarantine_limit: 0.5
columns:
  work_order_id: wo
  process: process
  node: node
  segment: segment
  department: dept
  start_at: start
  end_at: end
  cancelled_at: cancelled
processes: {KDZJ: BROADBAND}
nodes:
  BROADBAND: {ACCEPT: ACCEPT, DISPATCH: DISPATCH, INSTALL: INSTALL}
"""
AS_OF = datetime(2026, 4, 1, 2, 30, tzinfo=UTC)  # the live evaluation's instant
GRAINS = {"day": "daily", "month": "monthly"}  # built here; the weekly marts are not
BI_ROLE, BI_PASSWORD_VARIABLE = "t_bi_reader", "T_BI_READER_PASSWORD"
READABLE = ["{s}_reporting.rpt_achievement_rates", "{s}_reporting.rpt_open_runs", "{s}_reporting.rpt_data_quality",
            "{s}.achievement_rates_monthly", "{s}.dim_processes"]  # fmt: skip
# Raw source rows, the quarantine, the alert outbox, and the staging views over them.
REFUSED = ["{s}_landing.interval_runs", "{s}_landing.quarantine", "{s}_landing.alert_outbox",
           "{s}_staging.stg_landing__interval_runs"]  # fmt: skip


@pytest.fixture(scope="module")
def reported(module_pipeline_env: Path) -> Iterator[dict]:
    """Reference, daily (2026-03-30..04-01) and monthly runs, the last day and the reference job again, then
    one live evaluation. On DuckDB a reader holds the snapshot published by the first reference run open
    through all of them. No weekly run: the views must serve the grains that exist
    (macros/reporting/period_marts.sql)."""
    from dagster import AssetKey

    from orchestration.definitions import build_defs
    from orchestration.monitoring.evaluate import build_current_state
    from orchestration.reporting.snapshot import publish_snapshot, snapshot_path
    from orchestration.runner import run_job

    (module_pipeline_env / "cases.csv").write_text(CASES, encoding="utf-8")
    (module_pipeline_env / "sources_config" / "cases.yaml").write_text(textwrap.dedent(SOURCE), encoding="utf-8")
    out: dict = {}
    with pytest.MonkeyPatch.context() as mp, deployed_instance() as instance:
        mp.setenv("COMMITMENTS_FILE", str(FIXTURES / "commitments_cases.yaml"))
        defs = build_defs()
        warehouse = warehouse_of_env()
        view = AssetKey(["reporting", "rpt_achievement_rates"])
        out["views"] = []  # per run: the view's materialisation metadata (rebuilt, or reused as it was)

        def run(job: str, *partitions: str) -> None:
            run_job(defs, job, instance, *partitions)
            event = instance.get_latest_materialization_event(view)
            out["views"].append((job, {k: v.value for k, v in event.asset_materialization.metadata.items()}))

        run("reference_job")
        reader = None
        if warehouse.target == "duckdb":
            import duckdb

            reader = duckdb.connect(str(snapshot_path(warehouse)), read_only=True)
            out["before"] = reader.execute(f"select count(*) from {warehouse.reporting_schema}.rpt_node_run_states")
            out["before"] = out["before"].fetchone()[0]
        try:
            run("daily_job", "2026-03-30", "2026-04-01")
            run("monthly_job", "2026-03-01", "2026-04-01")
            for mart in ("achievement_rates_monthly", "node_run_states_daily"):
                event = instance.get_latest_materialization_event(AssetKey(mart))
                out[mart] = {k: v.value for k, v in event.asset_materialization.metadata.items()}
            run("monthly_job", "2026-04-01", "2026-04-01")  # nothing new for the views
            run("reference_job")  # dimensions replaced: on PostgreSQL the views on them dropped (cascade)
            if reader is not None:
                # The reader kept the snapshot it opened: the runs replaced the file, never waited for it.
                out["held"] = reader.execute(f"select count(*) from {warehouse.reporting_schema}.rpt_node_run_states")
                out["held"] = out["held"].fetchone()[0]
        finally:
            if reader is not None:
                reader.close()
        build_current_state(warehouse, AS_OF, AS_OF)
        # As the monitoring job does: the snapshot of the last job, with the live relations replaced.
        live = [f"{warehouse.schema_name}.open_run_states", f"{warehouse.reporting_schema}.rpt_open_runs"]
        out["copied"] = publish_snapshot(warehouse, live)
        yield out


def rpt(view: str, where: str = "true") -> pd.DataFrame:
    return query(f"select * from {{s}}_reporting.{view} where {where}")


# --- the views hold the marts' numbers --------------------------------------------------------------------


@pytest.mark.parametrize("grain", GRAINS)
def test_rates_equal_the_marts(reported: dict, grain: str) -> None:
    mart = query(f"select * from {{s}}.achievement_rates_{GRAINS[grain]}").set_index("achievement_rate_id")
    view = rpt("rpt_achievement_rates", f"period_grain = '{grain}'").set_index("achievement_rate_id")
    assert len(mart) and sorted(view.index) == sorted(mart.index)
    view = view.loc[mart.index]
    for column in ["grouping_level", "process_code", "node_code", "department", "position", "segment", "total_runs",
                   "evaluated_runs", "completed_normal", "completed_acceptable", "completed_warning",
                   "in_progress_normal", "in_progress_acceptable", "in_progress_warning", "cancelled",
                   "no_commitment", "achievement_rate", "completed_achievement_rate", "normal_share",
                   "acceptable_share", "warning_share", "raise_commitment", "improve_process"]:  # fmt: skip
        pd.testing.assert_series_equal(view[column], mart[column], check_dtype=False, check_names=False)
    assert (pd.to_datetime(view.period_start_utc) == pd.to_datetime(mart.period_start)).all()


@pytest.mark.parametrize("grain", GRAINS)
def test_node_run_states_equal_the_marts(reported: dict, grain: str) -> None:
    mart = query(f"select * from {{s}}.node_run_states_{GRAINS[grain]}").set_index("period_node_run_id")
    view = rpt("rpt_node_run_states", f"period_grain = '{grain}'").set_index("period_node_run_id")
    assert len(mart) and sorted(view.index) == sorted(mart.index)
    view = view.loc[mart.index]
    for column in ["node_run_id", "work_order_id", "state", "band", "run_seconds", "commitment_seconds",
                   "commitment_version_id", "clock", "department"]:  # fmt: skip
        pd.testing.assert_series_equal(view[column], mart[column], check_dtype=False, check_names=False)


def test_names_labels_and_local_time(reported: dict) -> None:
    runs = rpt("rpt_node_run_states", "work_order_id = 'ACROSS_MONTHS'").sort_values("period_id")
    assert list(runs.period_label) == ["2026-03-30", "2026-03-31", "2026-04-01", "2026-03", "2026-04"]
    first, april = runs.iloc[0], runs.iloc[-1]
    assert (first.process_name_zh, first.process_name_en) == ("宽带装机", "Broadband installation")
    assert (first.node_name_zh, first.node_name_en) == ("受理", "Acceptance")
    assert pd.Timestamp(first.start_at_utc) == pd.Timestamp("2026-03-30 10:00")
    assert pd.Timestamp(first.start_at_local) == pd.Timestamp("2026-03-30 18:00")  # Asia/Shanghai
    assert pd.isna(first.end_at_local) and pd.Timestamp(april.end_at_local) == pd.Timestamp("2026-04-01 10:00")
    # March judges it in progress at the month's end, April completed: the drill-down shows both.
    by_period = runs.set_index("period_id").state
    assert (by_period["month:2026-03-01"], by_period["month:2026-04-01"]) == (
        "in_progress_warning",
        "completed_warning",
    )


def test_the_ui_shows_each_runs_rows_and_rate(reported: dict) -> None:
    """Each period mart's materialisation carries the rows of its periods; the rate marts the rate of them."""
    monthly = reported["achievement_rates_monthly"]
    mart = query("select * from {s}.achievement_rates_monthly where grouping_level = 'all'")
    normal = (mart.completed_normal + mart.in_progress_normal).sum()
    assert monthly["achievement_rate"] == pytest.approx(normal / mart.evaluated_runs.sum())
    assert monthly["evaluated_runs"] == mart.evaluated_runs.sum()
    assert (
        "month:2026-03-01" in monthly["achievement_rate_by_period"]
        and "month:2026-04-01" in monthly["achievement_rate_by_period"]
    )
    assert monthly["rows_in_periods"] == len(query("select * from {s}.achievement_rates_monthly"))
    assert reported["node_run_states_daily"]["rows_in_periods"] == len(query("select * from {s}.node_run_states_daily"))


def test_a_long_range_keeps_the_latest_periods_rate_table() -> None:
    """A range run's metadata is copied into every partition's event, so a backfill of 400 days shows the
    latest periods' rates and says where the rest are, instead of 400 rows in each of 400 events."""
    from orchestration.assets.period_metadata import RATE_TABLE_PERIODS, _metadata
    from orchestration.periods import Window

    days = pd.date_range("2025-01-01", periods=400, freq="D")
    rates = pd.DataFrame({"period_id": [f"day:{d:%Y-%m-%d}" for d in days], "evaluated_runs": 10,
                          "normal_runs": 8, "achievement_rate": 0.8})  # fmt: skip

    class Rates:
        schema_name = "s"

        def query(self, sql: str) -> pd.DataFrame:
            return pd.DataFrame({"n": [4000]}) if "count(*)" in sql else rates

    window = Window.for_days(date(2025, 1, 1), date(2026, 2, 4), ZoneInfo("Asia/Shanghai"))
    out = _metadata(Rates(), "achievement_rates_daily", window)
    table = out["achievement_rate_by_period"].value
    assert table.count("| day:") == RATE_TABLE_PERIODS
    assert "day:2026-02-04" in table and "day:2026-01-04" not in table
    assert f"latest {RATE_TABLE_PERIODS} of 400 periods" in table and "achievement_rates_daily" in table
    assert out["evaluated_runs"] == 4000 and out["achievement_rate"].value == pytest.approx(0.8)


# --- counts safe to add -----------------------------------------------------------------------------------


def test_started_and_completed_add_across_periods_where_states_do_not(reported: dict) -> None:
    rates = rpt("rpt_achievement_rates", "grouping_level = 'all'")
    days = rates[rates.period_grain == "day"]
    months = rates[rates.period_grain == "month"]
    assert rpt("rpt_achievement_rates", "period_grain = 'week'").empty  # no weekly run yet: no weekly rows
    runs = query("select count(*) as n from {s}.fct_node_runs").n.iloc[0]
    # Every run started on one of the three days and in one of the two months: once each.
    assert days.runs_started_in_period.sum() == months.runs_started_in_period.sum() == runs == 9
    completed = query("select count(*) as n from {s}.fct_node_runs where end_at is not null").n.iloc[0]
    assert days.runs_completed_in_period.sum() == months.runs_completed_in_period.sum() == completed
    # total_runs counts ACROSS_MONTHS on each of its three days, and in both months.
    assert days.total_runs.sum() == runs + 2 and months.total_runs.sum() == runs + 1


def test_node_level_rows_carry_the_one_commitment_in_force(reported: dict) -> None:
    rows = rpt("rpt_achievement_rates", "period_id = 'month:2026-03-01' and node_code <> '*'")
    by_key = rows.set_index(["grouping_level", "node_code", "segment"])
    # DISPATCH: one version judged every run -> its limits; ACCEPT mixes the VIP and default versions.
    dispatch = by_key.loc[("process_node", "DISPATCH", "*")]
    assert (dispatch.commitment_seconds, dispatch.tolerance_seconds) == (7200, 14400)
    assert pd.isna(by_key.loc[("process_node", "ACCEPT", "*")].commitment_seconds)
    assert by_key.loc[("process_node_segment", "ACCEPT", "VIP")].commitment_seconds == 1800
    assert pd.isna(by_key.loc[("process_node", "INSTALL", "*")].commitment_seconds)  # no commitment
    assert rows[~rows.grouping_level.str.contains("node")].empty


# --- the live view ------------------------------------------------------------------------------------------


def test_open_runs_time_left_and_breach(reported: dict) -> None:
    live = rpt("rpt_open_runs").set_index("work_order_id")
    states = query("select * from {s}.open_run_states").set_index("work_order_id")
    assert sorted(live.index) == sorted(states.index) == ["OPEN_IN_TIME", "OPEN_OVERDUE"]
    overdue, in_time = live.loc["OPEN_OVERDUE"], live.loc["OPEN_IN_TIME"]
    # ACCEPT 1h: 1.5 h so far, half an hour overdue since 02:00 UTC (10:00 local).
    assert overdue.seconds_left == -1800 and overdue.pct_of_limit_elapsed == pytest.approx(1.5)
    assert pd.Timestamp(overdue.breach_at_utc) == pd.Timestamp("2026-04-01 02:00")
    assert pd.Timestamp(overdue.breach_at_local) == pd.Timestamp("2026-04-01 10:00")
    assert overdue.band == "acceptable" and overdue.seconds_left_to_tolerance == 1800
    # DISPATCH 2h: half an hour so far, breach at 04:00 UTC.
    assert in_time.seconds_left == 5400 and in_time.pct_of_limit_elapsed == pytest.approx(0.25)
    assert pd.Timestamp(in_time.breach_at_utc) == pd.Timestamp("2026-04-01 04:00")
    assert (in_time.process_name_zh, in_time.node_name_zh) == ("宽带装机", "派单")
    assert pd.Timestamp(in_time.as_of_local) == pd.Timestamp("2026-04-01 10:30")


# --- data quality ---------------------------------------------------------------------------------------------


def test_data_quality_per_source_day_and_reason(reported: dict) -> None:
    quality = rpt("rpt_data_quality")
    log = query("select partition_date, rows_received, rows_accepted, rows_quarantined from {s}_landing.extraction_log")
    totals = quality[quality.reason_code.isna()].set_index(
        pd.to_datetime(quality.business_date[quality.reason_code.isna()])
    )
    log = log.set_index(pd.to_datetime(log.partition_date))
    assert sorted(totals.index) == sorted(log.index)
    assert (totals.loc[log.index].received_rows.astype(int) == log.rows_received.astype(int)).all()
    assert (totals.loc[log.index].quarantined_rows.astype(int) == log.rows_quarantined.astype(int)).all()
    reasons = quality[quality.reason_code.notna()]
    assert reasons[["source", "reason_code"]].values.tolist() == [["cases", "unparseable_timestamp"]]
    assert reasons.quarantined_rows.sum() == totals.quarantined_rows.sum() == 1
    assert reasons.received_rows.isna().all() and (totals.checks_passed.astype(int) > 0).all()


# --- what BI tools see -------------------------------------------------------------------------------------------


def test_descriptions_reach_the_database(reported: dict) -> None:
    warehouse = warehouse_of_env()
    schema = warehouse.reporting_schema
    if warehouse.target == "duckdb":
        views = query(f"select view_name as name, comment from duckdb_views() where schema_name = '{schema}'")
        columns = query(
            "select column_name as name, comment from duckdb_columns() "
            f"where schema_name = '{schema}' and table_name = 'rpt_open_runs'"
        )
    else:
        views = query(
            "select c.relname as name, obj_description(c.oid, 'pg_class') as comment from pg_class c "
            f"join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' and c.relkind = 'v'"
        )
        columns = query(
            "select a.attname as name, col_description(a.attrelid, a.attnum) as comment from pg_attribute a "
            f"where a.attrelid = '{schema}.rpt_open_runs'::regclass and a.attnum > 0"
        )
    assert {"rpt_achievement_rates", "rpt_node_run_states", "rpt_open_runs", "rpt_data_quality",
            "metricflow_time_spine"} <= set(views.name)  # fmt: skip
    assert views.comment.notna().all() and views.set_index("name").comment["rpt_achievement_rates"].startswith(
        "服务承诺达成率"
    )
    assert columns.set_index("name").comment["seconds_left"].startswith("commitment_seconds - run_seconds")


def test_the_views_are_rebuilt_when_they_must_be_and_left_as_they_are_otherwise(reported: dict) -> None:
    """The last step of every job materialises the views; it starts dbt only when they are missing or a grain
    they read was built for the first time (orchestration/reporting/views.py), and they are current after
    every job either way (the other tests read them after the last run)."""
    schema = warehouse_of_env().schema_name
    (first, built), (day, daily), (month, monthly), (again, unchanged), (reference, after) = reported["views"]
    assert (first, day, month, again, reference) == ("reference_job", "daily_job", "monthly_job", "monthly_job",
                                                     "reference_job")  # fmt: skip
    # dbt's own materialisation (its invocation), saying why it ran
    assert built["status"] == "success" and "invocation_id" in built
    assert built["rebuilt_because"].startswith("missing: ") and "rpt_achievement_rates" in built["rebuilt_because"]
    assert daily["status"] == "success" and f"{schema}.node_run_states_daily" in daily["rebuilt_because"], daily
    assert monthly["status"] == "success" and f"{schema}.achievement_rates_monthly" in monthly["rebuilt_because"]
    assert "rpt_" not in daily["rebuilt_because"]  # present since the reference run: not missing
    # no dbt process for a month whose marts existed: the same views, saying so
    assert unchanged["status"] == "reused" and "invocation_id" not in unchanged
    assert unchanged["reused_because"].startswith("dbt not started")
    if warehouse_of_env().target == "duckdb":
        assert after["status"] == "reused"  # DuckDB's views name their tables: replacing them drops nothing
        # and the snapshot, brought level after each job, says how much of each view it wrote: none, the view
        # is a view there too, over the snapshot's copies of the marts (test_readers_of_the_duckdb_snapshot...)
        assert built["snapshot_rows_written"] == daily["snapshot_rows_written"] == 0
    else:
        assert after["status"] == "success" and after["rebuilt_because"].startswith("missing: ")
        assert "snapshot_rows_written" not in after  # no snapshot: readers use the BI role


def test_readers_of_the_duckdb_snapshot_never_block_a_run(reported: dict) -> None:
    """DuckDB: a reader held the snapshot open while the daily, weekly and monthly runs wrote; they succeeded
    and replaced it, the reader kept its own copy. PostgreSQL readers use the BI role: no file is written."""
    from orchestration.reporting.snapshot import snapshot_path

    warehouse = warehouse_of_env()
    if warehouse.target == "postgres":
        assert reported["copied"] is None and not snapshot_path(warehouse).exists()
        return
    import duckdb

    assert reported["before"] == reported["held"] == 0  # published by the reference run, before any mart
    with duckdb.connect(str(snapshot_path(warehouse)), read_only=True) as snapshot:
        schema = warehouse.reporting_schema
        copied = snapshot.execute(f"select * from {schema}.rpt_achievement_rates").df()
        tables = snapshot.execute("select schema_name, table_name, comment from duckdb_tables()").df()
        views = snapshot.execute("select view_name, comment from duckdb_views() where not internal").df()
    assert len(copied) == len(rpt("rpt_achievement_rates")) > 0  # kept from the monthly run's snapshot
    # The marts, with their descriptions, and the snapshot's own records (the copies' digests); never landing,
    # staging or the quarantine. The reporting views that read only marts and dimensions are views there too;
    # rpt_data_quality reads the landing tables, so it is a copy; rpt_open_runs, which the live evaluation
    # below has just rebuilt, a copy until the next job's publish.
    assert set(tables.schema_name) == {warehouse.schema_name, schema, "_snapshot"}
    assert set(tables[tables.schema_name == schema].table_name) == {"rpt_data_quality", "rpt_open_runs"}
    assert {"rpt_achievement_rates", "rpt_node_run_states"} <= set(views.view_name)
    assert tables.set_index("table_name").comment["rpt_open_runs"].startswith("Live view")
    assert views.set_index("view_name").comment["rpt_node_run_states"]
    assert reported["copied"] == {f"{schema}.rpt_open_runs": 2, f"{warehouse.schema_name}.open_run_states": 2}


def test_each_marts_copy_was_levelled_at_its_last_write(reported: dict) -> None:
    """DuckDB: each publish read only what dbt had built since the one before (every build records what it may
    change and a write id: dbt_project/macros/reporting/mart_writes.sql); after all the runs, every mart's copy
    still holds exactly the mart's rows, and was levelled at its last build. PostgreSQL has no snapshot: the
    builds record nothing."""
    import duckdb

    from orchestration.reporting.snapshot import MART_WRITES, WRITES_RECORD, snapshot_path

    warehouse, s = warehouse_of_env(), warehouse_of_env().schema_name
    marts = set(query("select table_name from information_schema.tables where table_schema = '{s}' "
                      "and table_type = 'BASE TABLE'").table_name)  # fmt: skip
    landing = query("select table_name from information_schema.tables where table_schema = '{s}_landing'")
    if warehouse.target == "postgres":
        assert MART_WRITES not in set(landing.table_name)
        return
    recorded = warehouse.execute(
        f"select relation, write_id, base_write_id, changed_whole, changed_to from {s}_landing.{MART_WRITES}"
    )
    writes = {relation: write for relation, write, *_ in recorded}
    assert set(writes) == {f"{s}.{m}" for m in marts} and len(set(writes.values())) == len(marts)
    with duckdb.connect(warehouse.duckdb_path, read_only=True) as conn:
        conn.execute(f"attach '{snapshot_path(warehouse)}' as snap (read_only)")
        levelled = dict(conn.execute(f"select relation, write_id from snap.{WRITES_RECORD}").fetchall())
        # The live evaluation rebuilt the base table's changed work orders after the last job and published its
        # own two relations only (open_run_states levelled at its write): the next job's publish compares these.
        behind = {r.split(".")[1] for r, write in writes.items() if levelled.get(r) != write}
        assert behind == {"fct_node_runs", "fct_work_order_pauses"}
        # Left to copy: nothing of the marts levelled at their last build; the whole of those behind (built by
        # work order, not by period).
        left = {r.split(".")[1]: (base == write, whole, end) for r, write, base, whole, end in recorded}
        assert all(left[m] == (True, False, None) for m in marts - behind) and all(left[m][1] for m in behind)
        for mart in sorted(marts - behind):
            for a, b in ((f"{s}.{mart}", f"snap.{s}.{mart}"), (f"snap.{s}.{mart}", f"{s}.{mart}")):
                assert conn.execute(f"select count(*) from (from {a} except all from {b})").fetchone()[0] == 0, mart


def _cli(*args: str):
    from typer.testing import CliRunner

    from commitments_cli.app import app

    return CliRunner().invoke(app, list(args), prog_name="commitments")


def test_bi_role_reads_reporting_and_marts_only(reported: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: the role `commitments bi-role create` makes reads rpt_* and the marts, and is refused
    landing (raw rows), the quarantine, the alert outbox and staging. DuckDB has no roles: the command
    says so and names the snapshot file instead."""
    from orchestration.errors import ConfigError
    from orchestration.reporting.access import create_bi_role
    from orchestration.reporting.snapshot import snapshot_path

    warehouse = warehouse_of_env()
    monkeypatch.setenv(BI_PASSWORD_VARIABLE, "s3cret-for-tests")
    if warehouse.target == "duckdb":
        with pytest.raises(ConfigError, match=str(snapshot_path(warehouse))):
            create_bi_role(warehouse, BI_ROLE, BI_PASSWORD_VARIABLE)
        refused = _cli("bi-role", "create", "--role", BI_ROLE, "--password-env", BI_PASSWORD_VARIABLE)
        assert refused.exit_code == 2 and "read-only snapshot" in refused.output
        return
    import psycopg2

    from orchestration.dbt_runner import dbt_in_process

    role = f"{BI_ROLE}_{warehouse.schema_name}"
    created = _cli("bi-role", "create", "--role", role, "--password-env", BI_PASSWORD_VARIABLE)
    assert created.exit_code == 0 and role in created.output and "s3cret" not in created.output
    create_bi_role(warehouse, role, BI_PASSWORD_VARIABLE)  # again: idempotent
    # The views are dropped and created again by every job: the grant must reach the new ones.
    dbt_in_process("run", "--select", "tag:reporting")
    conn = psycopg2.connect(host=PG_ENV["PGHOST"], port=int(PG_ENV["PGPORT"]), dbname=PG_ENV["PGDATABASE"],
                            user=role, password="s3cret-for-tests")  # fmt: skip
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for relation in READABLE:
                name = relation.format(s=warehouse.schema_name)
                cur.execute(f"select count(*) from {name}")
                assert cur.fetchone()[0] == query(f"select count(*) as n from {name}").n.iloc[0] > 0
            for relation in REFUSED:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(f"select count(*) from {relation.format(s=warehouse.schema_name)}")
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute(f"create table {warehouse.schema_name}_reporting.scribble (x int)")
    finally:
        conn.close()
        warehouse.execute(f"drop owned by {role}; drop role {role}")


def test_metrics_are_defined_once_and_valid() -> None:
    """The semantic models, metrics and saved queries of models/reporting/metrics pass MetricFlow's semantic
    validation (what `mf validate-configs` runs), and the rate is the ratio SEMANTICS.md defines."""
    import json

    from dbt_semantic_interfaces.implementations.semantic_manifest import PydanticSemanticManifest
    from dbt_semantic_interfaces.validations.semantic_manifest_validator import SemanticManifestValidator

    from orchestration.dbt_project import ensure_manifest

    raw = json.loads((ensure_manifest().parent / "semantic_manifest.json").read_text(encoding="utf-8"))
    manifest = PydanticSemanticManifest.parse_obj(raw)
    outcome = SemanticManifestValidator[PydanticSemanticManifest]().validate_semantic_manifest(manifest)
    assert not outcome.has_blocking_issues, [str(issue) for issue in outcome.errors]
    metrics = {m.name: m for m in manifest.metrics}
    rate = metrics["achievement_rate"].type_params
    assert (rate.numerator.name, rate.denominator.name) == ("normal_runs_metric", "evaluated_runs")
    measures = {m.name: m.expr for m in manifest.semantic_models[0].measures}
    assert "'completed_normal', 'in_progress_normal'" in measures["normal_runs"]
    assert "'cancelled', 'no_commitment'" in measures["evaluated_runs"]
    # Every saved query filters one grain: the rows of a day, a week and a month are never added together.
    filters = [f.where_sql_template for q in manifest.saved_queries for f in q.query_params.where.where_filters]
    assert len(filters) == len(manifest.saved_queries) and all("period_grain" in f for f in filters)
