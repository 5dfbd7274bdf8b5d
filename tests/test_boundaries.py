"""Exact boundaries (SEMANTICS.md "State as of an instant T", issue #15): the state as of T is what had
happened before T, so an event at exactly 00:00:00 belongs to the period that starts then. Hand-made rows
at p_start, p_end and `now`, for an interval source and for entry- and completion-marked status
histories, on day, week and month grains, on DuckDB and PostgreSQL; the expected states are written
out by hand. A timely run (each day at 00:30 against the sources as they were then), a later backfill
and a rerun must give identical rows.

Business zone Asia/Shanghai, and every source here speaks Shanghai time. B = 2026-06-01 00:00 is a day,
an ISO week (Monday) and a month boundary at once; A = 2026-05-31 00:00 and C = 2026-06-02 00:00 are day
boundaries; NOW = 2026-06-01 12:00 is the instant of an evaluation while 1 June is still open.
Commitments: ACCEPT 1h/2h, DISPATCH 2h/4h, end to end (node *) 1d/2d on the wall clock; INSTALL 2h/3h on
the cn_office business calendar (config/calendars.yaml: Mon-Fri 09:00-12:00, 13:30-18:00).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests.conftest import RESULTS, deployed_instance, isolated_pipeline, query, snapshot_marts

pytestmark = pytest.mark.heavy  # whole pipelines per warehouse: scheduled first (conftest.py)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = "2026-06-01 12:00:00"  # local
FIRST, LAST = date(2026, 5, 31), date(2026, 6, 2)

COMMITMENTS = """\
commitments:
  - {process: BROADBAND, node: ACCEPT,   segment: "*", commitment: 1h, tolerance: 2h, valid_from: 2026-01-01}
  - {process: BROADBAND, node: DISPATCH, segment: "*", commitment: 2h, tolerance: 4h, valid_from: 2026-01-01}
  - {process: BROADBAND, node: "*",      segment: "*", commitment: 1d, tolerance: 2d, valid_from: 2026-01-01}
  - {process: BROADBAND, node: INSTALL,  segment: "*", commitment: 2h, tolerance: 3h, valid_from: 2026-01-01,
     clock: cn_office}
"""

# Intervals (no changed_at: a row lands in the day partition of its start). Local times.
INTERVALS = [
    # wo, start, end, cancelled
    ("I_START_A", "2026-05-31 00:00:00", "2026-05-31 03:00:00", None),
    ("I_CANCEL_B", "2026-05-31 22:00:00", None, "2026-06-01 00:00:00"),
    ("I_END_B", "2026-05-31 23:30:00", "2026-06-01 00:00:00", None),
    ("I_START_B", "2026-06-01 00:00:00", "2026-06-01 00:30:00", None),
    ("I_NOW_CANCEL", "2026-06-01 10:30:00", None, "2026-06-01 12:00:00"),
    ("I_NOW_END", "2026-06-01 11:00:00", "2026-06-01 12:00:00", None),
    ("I_NOW_START", "2026-06-01 12:00:00", "2026-06-01 13:30:00", None),
    ("I_END_C", "2026-06-01 23:00:00", "2026-06-02 00:00:00", None),
    # On the business clock (node INSTALL): Sunday 10:00 to B holds no working time; Monday 08:00 to NOW, 3 h.
    ("I_CLOCK_B", "2026-05-31 10:00:00", "2026-06-01 00:00:00", None),
    ("I_CLOCK_NOW", "2026-06-01 08:00:00", "2026-06-01 12:00:00", None),
]
INTERVAL_NODE = {"I_CLOCK_B": "装机", "I_CLOCK_NOW": "装机"}  # the others: 受理 (ACCEPT)
# Entry-marked status history (lands in the day partition of each event).
ENTRY = [
    ("E_CANCEL_B", "受理", "2026-05-31 22:30:00"),
    ("E_B", "受理", "2026-05-31 23:00:00"),
    ("E_B", "派单", "2026-06-01 00:00:00"),
    ("E_CANCEL_B", "撤单", "2026-06-01 00:00:00"),
    ("E_B", "关闭", "2026-06-01 01:00:00"),
    ("E_NOW", "受理", "2026-06-01 10:00:00"),
    ("E_NOW", "派单", "2026-06-01 12:00:00"),
    ("E_NOW", "关闭", "2026-06-01 13:00:00"),
]
# Completion-marked status history: each event closes the run begun at the previous one. (A run that a
# completion at or after a day's end closes is unknown to that day's timely run, whatever the rule: the
# source tells of it only then. Such runs are left out here; see the closing note of issue #15.)
COMPLETION = [
    ("C_A", "开单", "2026-05-31 00:00:00"),
    ("C_A", "受理完成", "2026-05-31 00:30:00"),
    ("C_A", "派单完成", "2026-05-31 03:00:00"),
    ("C_B", "开单", "2026-06-01 00:00:00"),
    ("C_B", "受理完成", "2026-06-01 01:30:00"),
    ("C_NOW", "开单", "2026-06-01 09:00:00"),
    ("C_NOW_CANCEL", "开单", "2026-06-01 11:00:00"),
    ("C_NOW", "受理完成", "2026-06-01 12:00:00"),
    ("C_NOW_CANCEL", "作废", "2026-06-01 12:00:00"),
]

COMMON = """\
kind: file
time_zone: Asia/Shanghai
freshness: "off"
processes: {KDZJ: BROADBAND}
"""
SOURCES = {
    "b_intervals": COMMON
    + """\
path: "{data_dir}/b_intervals.csv"
shape: intervals
columns: {work_order_id: wo, process: process, node: node, start_at: start, end_at: end, cancelled_at: cancelled}
nodes:
  BROADBAND: {受理: ACCEPT, 装机: INSTALL}
""",
    "b_entry": COMMON
    + """\
path: "{data_dir}/b_entry.csv"
shape: status_history
timestamp_marks: entry
columns: {work_order_id: wo, process: process, status: status, event_at: at}
nodes:
  BROADBAND: {受理: ACCEPT, 派单: DISPATCH}
terminal_statuses: [关闭]
cancelling_statuses: [撤单]
""",
    "b_completion": COMMON
    + """\
path: "{data_dir}/b_completion.csv"
shape: status_history
timestamp_marks: completion
columns: {work_order_id: wo, process: process, status: status, event_at: at}
nodes:
  BROADBAND: {开单: ACCEPT, 受理完成: ACCEPT, 派单完成: DISPATCH, 作废: DISPATCH}
cancelling_statuses: [作废]
""",
}

# Expected states by hand: (work order, node) -> state. Every work order has one visit per node.
BEFORE_B = {  # day 2026-05-31, ISO week 2026-05-25 and May: as of B
    ("I_START_A", "ACCEPT"): "completed_warning",  # started at exactly A, 3 h
    ("I_CANCEL_B", "ACCEPT"): "in_progress_acceptable",  # cancelled at exactly B: still open at B, 2 h
    ("I_END_B", "ACCEPT"): "in_progress_normal",  # ended at exactly B: still open at B, 30 min
    ("E_CANCEL_B", "ACCEPT"): "in_progress_acceptable",  # 1.5 h; 撤单 at B is the next day's
    ("E_B", "ACCEPT"): "in_progress_normal",  # 1 h == commitment; 派单 at B is the next day's
    ("C_A", "ACCEPT"): "completed_normal",  # clock started at exactly A, 30 min
    ("C_A", "DISPATCH"): "completed_acceptable",  # 2.5 h
    ("I_CLOCK_B", "INSTALL"): "in_progress_normal",  # business clock: no working time before B (wall: 14 h)
}  # I_START_B and C_B start at exactly B: they belong to June, week 2026-06-01 and 1 June only
FROM_B = {  # day 2026-06-01 closed: as of C
    ("I_CANCEL_B", "ACCEPT"): "cancelled",
    ("I_END_B", "ACCEPT"): "completed_normal",  # not ended *before* B: in scope
    ("I_START_B", "ACCEPT"): "completed_normal",
    ("I_NOW_CANCEL", "ACCEPT"): "cancelled",
    ("I_NOW_END", "ACCEPT"): "completed_normal",
    ("I_NOW_START", "ACCEPT"): "completed_acceptable",
    ("I_END_C", "ACCEPT"): "in_progress_normal",  # ends at exactly C: open at C, 1 h
    ("E_CANCEL_B", "ACCEPT"): "cancelled",
    ("E_B", "ACCEPT"): "completed_normal",
    ("E_B", "DISPATCH"): "completed_normal",  # entered at exactly B
    ("E_NOW", "ACCEPT"): "completed_acceptable",  # 2 h
    ("E_NOW", "DISPATCH"): "completed_normal",
    ("C_B", "ACCEPT"): "completed_acceptable",  # clock started at exactly B, 1.5 h
    ("C_NOW", "ACCEPT"): "completed_warning",  # 3 h
    ("C_NOW_CANCEL", "DISPATCH"): "cancelled",
    ("I_CLOCK_B", "INSTALL"): "completed_normal",  # 0 working seconds
    ("I_CLOCK_NOW", "INSTALL"): "completed_acceptable",  # 3 working hours (wall: 4 h, a warning)
}
FROM_B_WHOLE = {**FROM_B, ("I_END_C", "ACCEPT"): "completed_normal"}  # week 2026-06-01 and June
DAY_C = {("I_END_C", "ACCEPT"): "completed_normal"}  # day 2026-06-02: the end at exactly C is its own
AT_NOW = {  # 1 June, its week and June, evaluated at NOW while open
    ("I_CANCEL_B", "ACCEPT"): "cancelled",
    ("I_END_B", "ACCEPT"): "completed_normal",
    ("I_START_B", "ACCEPT"): "completed_normal",
    ("I_NOW_CANCEL", "ACCEPT"): "in_progress_acceptable",  # cancelled at exactly NOW: 1.5 h open
    ("I_NOW_END", "ACCEPT"): "in_progress_normal",  # ends at exactly NOW: 1 h open
    ("E_CANCEL_B", "ACCEPT"): "cancelled",
    ("E_B", "ACCEPT"): "completed_normal",
    ("E_B", "DISPATCH"): "completed_normal",
    ("E_NOW", "ACCEPT"): "in_progress_acceptable",  # 派单 at exactly NOW: 2 h open
    ("C_B", "ACCEPT"): "completed_acceptable",
    ("C_NOW", "ACCEPT"): "in_progress_warning",  # completed at exactly NOW: 3 h open
    ("C_NOW_CANCEL", "DISPATCH"): "in_progress_normal",  # cancelled at exactly NOW: 1 h open
    ("I_CLOCK_B", "INSTALL"): "completed_normal",
    ("I_CLOCK_NOW", "INSTALL"): "in_progress_acceptable",  # ends at exactly NOW: 3 working hours open
}  # I_NOW_START and E_NOW's DISPATCH start at exactly NOW: they do not exist yet
OPEN_AT_NOW = {k: v for k, v in AT_NOW.items() if v.startswith("in_progress")}

PERIODS = {
    ("daily", "day:2026-05-31"): BEFORE_B,
    ("weekly", "week:2026-05-25"): BEFORE_B,
    ("monthly", "month:2026-05-01"): BEFORE_B,
    ("daily", "day:2026-06-01"): FROM_B,
    ("weekly", "week:2026-06-01"): FROM_B_WHOLE,
    ("monthly", "month:2026-06-01"): FROM_B_WHOLE,
    ("daily", "day:2026-06-02"): DAY_C,
}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def write_sources(root: Path, seen_at: datetime) -> None:
    """The three sources as they were at `seen_at`: what had happened by then (the systems hold a row
    stamped 00:00 by 00:30)."""

    def known(at: str | None) -> str | None:
        return at if at is not None and local(at) <= seen_at else None

    rows = [(wo, "KDZJ", INTERVAL_NODE.get(wo, "受理"), s, known(e), known(c)) for wo, s, e, c in INTERVALS if known(s)]
    pd.DataFrame(rows, columns=["wo", "process", "node", "start", "end", "cancelled"]).to_csv(
        root / "b_intervals.csv", index=False
    )
    for name, events in (("b_entry", ENTRY), ("b_completion", COMPLETION)):
        rows = [(wo, "KDZJ", status, at) for wo, status, at in events if known(at)]
        pd.DataFrame(rows, columns=["wo", "process", "status", "at"]).to_csv(root / f"{name}.csv", index=False)


def states(table: str, period_id: str) -> dict[tuple[str, str], str]:
    rows = query(f"select work_order_id, node_code, visit, state from {{s}}.{table} where period_id = '{period_id}'")
    assert (rows.visit == 1).all()
    return {(r.work_order_id, r.node_code): r.state for r in rows.itertuples()}


class _Clock:
    """The dbt assets cap as_of at `orchestration.periods.utc_now()`: pinned to the simulated instant."""

    at = datetime.now(UTC)

    @classmethod
    def now(cls) -> datetime:
        return cls.at


@pytest.fixture(scope="module")
def boundary_runs(tmp_path_factory: pytest.TempPathFactory, warehouse_target: str) -> Iterator[dict]:
    import orchestration.periods as periods_module
    from orchestration.definitions import build_defs
    from orchestration.runner import run_job

    out: dict = {}
    for mode in ("timely", "backfill"):
        root = tmp_path_factory.mktemp(mode)
        commitments = root / "commitments.yaml"
        commitments.write_text(COMMITMENTS, encoding="utf-8")
        with isolated_pipeline(root, warehouse_target), pytest.MonkeyPatch.context() as mp:
            mp.setenv("COMMITMENTS_FILE", str(commitments))
            mp.setattr(periods_module, "utc_now", _Clock.now)
            for name, text in SOURCES.items():
                (root / "sources_config" / f"{name}.yaml").write_text(f"name: {name}\n{text}", encoding="utf-8")
            with deployed_instance() as instance:
                defs = build_defs()

                def at(moment: datetime, job: str, partition: str, root=root, defs=defs) -> None:
                    """Run `job` for one partition at `moment`, against the sources as they were then."""
                    _Clock.at = moment
                    write_sources(root, moment)
                    run_job(defs, job, instance, partition, partition)

                if mode == "timely":
                    write_sources(root, local("2026-05-31 00:30:00"))
                    run_job(defs, "reference_job", instance)
                    at(local("2026-06-01 00:30:00"), "daily_job", "2026-05-31")
                    run_job(defs, "weekly_job", instance, "2026-05-25", "2026-05-25")
                    run_job(defs, "monthly_job", instance, "2026-05-01", "2026-05-01")
                    # 1 June while it is open, at exactly NOW: the day, its week and its month so far.
                    at(local(NOW), "daily_job", "2026-06-01")
                    run_job(defs, "weekly_job", instance, "2026-06-01", "2026-06-01")
                    run_job(defs, "monthly_job", instance, "2026-06-01", "2026-06-01")
                    out["now"] = {
                        grain: states(f"node_run_states_{grain}", period)
                        for grain, period in (("daily", "day:2026-06-01"), ("weekly", "week:2026-06-01"),
                                              ("monthly", "month:2026-06-01"))
                    }  # fmt: skip
                    out["now_orders"] = query(
                        "select work_order_id, order_status, nodes_completed, current_node_code from "
                        "{s}.work_order_status_daily where period_id = 'day:2026-06-01'"
                    )
                    out["open_now"] = open_run_states(NOW)
                    # DuckDB writes a day's changed work orders into the query as one array (the run at NOW
                    # above); closing 1 June takes the semi-join that a range holding most of the history gets
                    # (macros/window/in_changed_work_orders.sql).
                    mp.setenv("COMMITMENTS_DBT_CHANGED_LIST_MAX", "0")
                    at(local("2026-06-02 00:30:00"), "daily_job", "2026-06-01")
                    mp.delenv("COMMITMENTS_DBT_CHANGED_LIST_MAX")
                    at(local("2026-06-03 00:30:00"), "daily_job", "2026-06-02")
                    at(local("2026-06-08 00:30:00"), "weekly_job", "2026-06-01")
                    at(local("2026-07-01 00:30:00"), "monthly_job", "2026-06-01")
                    out["timely"] = snapshot_marts()
                else:
                    _Clock.at = datetime.now(UTC)
                    write_sources(root, local("2026-07-01 00:30:00"))
                    run_job(defs, "reference_job", instance)
                    for attempt in ("backfill", "rerun"):
                        run_job(defs, "daily_job", instance, FIRST.isoformat(), LAST.isoformat())
                        run_job(defs, "weekly_job", instance, "2026-05-25", "2026-06-01")
                        run_job(defs, "monthly_job", instance, "2026-05-01", "2026-06-01")
                        out[attempt] = snapshot_marts()
                    out["log"] = query("select * from {s}_landing.extraction_log")
                    out["landed"] = query(
                        "select source_system, partition_date, event_at as at from {s}_landing.status_events "
                        "union all select source_system, partition_date, start_at as at from {s}_landing.interval_runs"
                    )
    yield out


def open_run_states(now_local: str) -> dict[tuple[str, str], str]:
    """The live model of the open runs, built as the monitoring evaluation builds it, as of `now_local`."""
    from orchestration.dbt_runner import dbt_in_process

    cap = local(now_local).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    dbt_in_process("build", "--select", "open_run_states", "--vars", json.dumps({"as_of_cap": cap}))
    rows = query("select work_order_id, node_code, run_status, band from {s}.open_run_states")
    return {(r.work_order_id, r.node_code): f"{r.run_status}_{r.band}" for r in rows.itertuples()}


@pytest.mark.parametrize(("grain", "period_id"), list(PERIODS))
def test_states_at_the_boundaries(boundary_runs: dict, grain: str, period_id: str) -> None:
    for mode in ("timely", "backfill"):
        frame = boundary_runs[mode][f"node_run_states_{grain}"]
        got = frame[frame.period_id == period_id]
        assert (
            dict(zip(zip(got.work_order_id, got.node_code, strict=True), got.state, strict=True))
            == PERIODS[(grain, period_id)]
        ), mode


def test_states_at_now_in_the_open_day_week_and_month(boundary_runs: dict) -> None:
    for grain in ("daily", "weekly", "monthly"):
        assert boundary_runs["now"][grain] == AT_NOW, grain


def test_open_run_states_at_now(boundary_runs: dict) -> None:
    assert boundary_runs["open_now"] == OPEN_AT_NOW


def test_work_orders_at_the_boundaries(boundary_runs: dict) -> None:
    orders = boundary_runs["backfill"]["work_order_status_daily"].set_index(["period_id", "work_order_id"])
    # E_B as of B: only 受理 had happened (派单 at exactly B is the next day's), so it is still at ACCEPT.
    e_b = orders.loc[("day:2026-05-31", "E_B")]
    assert (e_b.order_status, e_b.nodes_completed, e_b.current_node_code) == ("in_progress", 0, "ACCEPT")
    e_b = orders.loc[("day:2026-06-01", "E_B")]
    assert (e_b.order_status, e_b.nodes_completed, e_b.current_node_code) == ("completed", 2, "DISPATCH")
    assert e_b.e2e_state == "completed_normal" and e_b.e2e_run_seconds == 2 * 3600
    i_end = orders.loc[("day:2026-05-31", "I_END_B")]
    assert (i_end.order_status, i_end.e2e_state, i_end.e2e_run_seconds) == ("in_progress", "in_progress_normal", 1800)
    assert pd.isna(i_end.last_end_at)
    assert orders.loc[("day:2026-05-31", "I_CANCEL_B")].order_status == "in_progress"
    assert orders.loc[("day:2026-06-01", "I_CANCEL_B")].order_status == "cancelled"
    assert ("day:2026-05-31", "I_START_B") not in orders.index
    now = boundary_runs["now_orders"].set_index("work_order_id")
    assert now.loc["E_NOW"].order_status == "in_progress" and now.loc["E_NOW"].current_node_code == "ACCEPT"
    assert now.loc["I_NOW_END"].order_status == "in_progress"
    assert "I_NOW_START" not in now.index


def test_events_at_midnight_land_in_the_day_that_starts_then(boundary_runs: dict) -> None:
    landed = boundary_runs["landed"]
    landed["local"] = pd.to_datetime(landed["at"]).dt.tz_localize("UTC").dt.tz_convert(SHANGHAI)
    at_b = landed[landed["local"] == pd.Timestamp("2026-06-01 00:00:00", tz=SHANGHAI)]
    assert len(at_b) == 4  # I_START_B, E_B 派单, E_CANCEL_B 撤单, C_B 开单
    assert (pd.to_datetime(at_b.partition_date).dt.date == date(2026, 6, 1)).all()
    log = boundary_runs["log"]
    assert (log.rows_received == log.rows_accepted + log.rows_quarantined).all()
    assert log.rows_quarantined.sum() == 0
    assert log.rows_received.sum() == len(INTERVALS) + len(ENTRY) + len(COMPLETION)


@pytest.mark.parametrize("table", RESULTS)
def test_timely_backfill_and_rerun_agree(boundary_runs: dict, table: str) -> None:
    timely, backfill, rerun = (boundary_runs[k][table] for k in ("timely", "backfill", "rerun"))
    assert len(backfill) > 0
    pd.testing.assert_frame_equal(backfill, rerun)
    pd.testing.assert_frame_equal(timely, backfill)


def test_a_day_is_the_half_open_interval_of_its_midnights() -> None:
    """Sanity of the hand times: B is 16:00 UTC, a Monday and the first of a month."""
    b = local("2026-06-01 00:00:00")
    assert b.astimezone(UTC) == datetime(2026, 5, 31, 16, tzinfo=UTC)
    assert b.weekday() == 0 and b.day == 1
    assert local("2026-06-02 00:00:00") - b == timedelta(days=1)


def test_business_clock_at_the_boundaries(boundary_runs: dict) -> None:
    """Run time on the cn_office clock as of B (in progress) and of C (completed), against the wall clock."""
    frame = boundary_runs["backfill"]["node_run_states_daily"].set_index(["period_id", "work_order_id"])
    before = frame.loc[("day:2026-05-31", "I_CLOCK_B")]
    assert (before.run_status, before.clock, before.run_seconds, before.wall_seconds) == (
        "in_progress",
        "cn_office",
        0,
        14 * 3600,
    )
    after = frame.loc[("day:2026-06-01", "I_CLOCK_NOW")]
    assert (after.run_status, after.run_seconds, after.wall_seconds) == ("completed", 3 * 3600, 4 * 3600)
