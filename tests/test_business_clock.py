"""Business calendars and paused clocks, with hand-worked expected values, end to end through file
sources, the Dagster jobs and dbt, on DuckDB and on PostgreSQL.

Calendars (tests/fixtures/calendars_cases.yaml): cn_office, Asia/Shanghai, China's holidays and make-up
days, 09:00-12:00 + 13:30-18:00 on weekdays (7.5 h) until Monday 2026-11-02, then 08:00-12:00 +
13:00-17:00; us_office, America/New_York, US holidays, 09:00-17:00. 2026: National Day holidays
Thu 10-01 to Wed 10-07, make-up working Saturday 10-10; the US leaves DST on Sunday 11-01.
Commitments (tests/fixtures/commitments_clock_cases.yaml): ACCEPT 4h/1d on cn_office (1d = 7.5 h),
DISPATCH 2h/3h on us_office, INSTALL 1d/2d on the wall clock, FOLLOWUP 1d/2d on cn_office, end to end
3d/5d on cn_office. Source times are Asia/Shanghai local.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from orchestration.reference.calendars import CalendarError, load_calendars, parse_duration, working_time_at
from orchestration.reference.catalogue import load_catalogue
from orchestration.reference.commitments import CommitmentError, load_commitments
from tests.conftest import query, run_pipeline, settings_of_env

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIXTURES = Path(__file__).parent / "fixtures"
CALENDARS = FIXTURES / "calendars_cases.yaml"
H = 3600

# wo, node, start, end (Asia/Shanghai) -> expected run seconds, state (in the period where it completes)
RUNS = [
    # Fri 16-18 (2 h) + make-up Saturday 10-10 (7.5 h) + Mon 9-10 (1 h); without 调休 it would be 3 h.
    ("MAKEUP_WEEKEND", "ACCEPT", "2026-10-09 16:00", "2026-10-12 10:00", 10.5 * H, "completed_warning"),
    # Wed 09-30 17-18 (1 h), holidays 10-01..10-07 (0), Thu 10-08 9-10 (1 h).
    ("HOLIDAY_ACROSS", "ACCEPT", "2026-09-30 17:00", "2026-10-08 10:00", 2 * H, "completed_normal"),
    ("OUTSIDE_NIGHT", "ACCEPT", "2026-10-13 19:00", "2026-10-14 08:00", 0, "completed_normal"),
    # From before opening to after closing: the whole working day, exactly the tolerance (1d = 7.5 h).
    ("FULL_DAY", "ACCEPT", "2026-10-13 07:00", "2026-10-13 20:00", 7.5 * H, "completed_acceptable"),
    ("ON_HOLIDAY", "ACCEPT", "2026-10-02 10:00", "2026-10-03 15:00", 0, "completed_normal"),
    # 11-12 and 13:30-14:30: the lunch break does not count.
    ("LUNCH", "ACCEPT", "2026-10-14 11:00", "2026-10-14 14:30", 2 * H, "completed_normal"),
    # Started under the first version, so measured by it after the change too: Fri 17-18, Mon from 9.
    ("ACROSS_VERSION", "ACCEPT", "2026-10-30 17:00", "2026-11-02 08:30", 1 * H, "completed_normal"),
    # Started under the second version: 8-12 and 13:00-13:30.
    ("AFTER_VERSION", "ACCEPT", "2026-11-02 08:00", "2026-11-02 13:30", 4.5 * H, "completed_acceptable"),
    # New York: Fri 10-30 15:00 EDT to Mon 11-02 09:30 EST = 2 h + 0.5 h (a fixed offset would say 3.5 h).
    ("DST_US", "DISPATCH", "2026-10-31 03:00", "2026-11-02 22:30", 2.5 * H, "completed_acceptable"),
    # The wall clock ignores holidays: 26 h against 1d = 24 h.
    ("WALL_INSTALL", "INSTALL", "2026-10-02 10:00", "2026-10-03 12:00", 26 * H, "completed_acceptable"),
]
VERSION_1, VERSION_2 = "cn_office|2025-12-31T16:00:00", "cn_office|2026-11-01T16:00:00"

EVENTS = """\
order,status,at
P_HOLIDAY,CALLBACK,2026-09-29 10:00:00
P_HOLIDAY,WAIT_CUSTOMER,2026-09-30 16:00:00
P_HOLIDAY,CALLBACK,2026-10-08 11:00:00
P_HOLIDAY,CLOSED,2026-10-08 15:00:00
P_WALL,INSTALLING,2026-10-12 10:00:00
P_WALL,WAIT_CUSTOMER,2026-10-12 12:00:00
P_WALL,INSTALLING,2026-10-12 20:00:00
P_WALL,CLOSED,2026-10-12 22:00:00
P_OPEN,CALLBACK,2026-10-13 09:00:00
P_OPEN,WAIT_CUSTOMER,2026-10-13 10:00:00
"""

# Completion-marked: the pausing activity took the time since the previous event.
COMPLETION_EVENTS = """\
order,activity,at
C_PAUSE,ACCEPTED,2026-10-12 09:00:00
C_PAUSE,WAIT_VENDOR,2026-10-12 11:00:00
C_PAUSE,INSTALLED,2026-10-12 15:00:00
"""

COMPLETION_SOURCE = """\
name: clock_completions
kind: file
freshness: "off"  # hand-worked cases spread over weeks, not a live feed
path: "{data_dir}/clock_completions.csv"
time_zone: Asia/Shanghai
shape: status_history
timestamp_marks: completion
columns: {work_order_id: order, status: activity, event_at: at}
process: BROADBAND
nodes:
  BROADBAND: {ACCEPTED: ACCEPT, INSTALLED: INSTALL}
pausing_statuses: [WAIT_VENDOR]
"""

INTERVAL_SOURCE = """\
name: clock_runs
kind: file
freshness: "off"  # hand-worked cases spread over weeks, not a live feed
path: "{data_dir}/clock_runs.csv"
time_zone: Asia/Shanghai
shape: intervals
columns: {work_order_id: wo, node: node, start_at: start, end_at: end}
process: BROADBAND
nodes:
  BROADBAND: {ACCEPT: ACCEPT, DISPATCH: DISPATCH, INSTALL: INSTALL}
"""

EVENT_SOURCE = """\
name: clock_events
kind: file
freshness: "off"  # hand-worked cases spread over weeks, not a live feed
path: "{data_dir}/clock_events.csv"
time_zone: Asia/Shanghai
shape: status_history
timestamp_marks: entry
columns: {work_order_id: order, status: status, event_at: at}
process: BROADBAND
nodes:
  BROADBAND: {INSTALLING: INSTALL, CALLBACK: FOLLOWUP}
terminal_statuses: [CLOSED]
pausing_statuses: [WAIT_CUSTOMER]
"""


def random_runs(n: int, seed: int = 11) -> pd.DataFrame:
    """Random ACCEPT runs over both calendar versions, holidays and the make-up days."""
    rng = np.random.default_rng(seed)
    first = pd.Timestamp("2026-09-28 00:00")
    start = first + pd.to_timedelta(rng.integers(0, 33 * 86400, n), unit="s")
    end = start + pd.to_timedelta(rng.integers(0, 4 * 86400, n), unit="s")
    return pd.DataFrame({"wo": [f"R{i:04d}" for i in range(n)], "node": "ACCEPT", "start": start, "end": end})


@pytest.fixture(scope="module")
def measured(module_pipeline_env: Path) -> Iterator[pd.DataFrame]:
    root = module_pipeline_env
    cases = pd.DataFrame([r[:4] for r in RUNS], columns=["wo", "node", "start", "end"])
    randoms = random_runs(300)
    fmt = "%Y-%m-%d %H:%M:%S"
    pd.concat([cases, randoms.assign(start=randoms.start.dt.strftime(fmt), end=randoms.end.dt.strftime(fmt))]).to_csv(
        root / "clock_runs.csv", index=False
    )
    (root / "clock_events.csv").write_text(EVENTS, encoding="utf-8")
    (root / "clock_completions.csv").write_text(COMPLETION_EVENTS, encoding="utf-8")
    sources = {"clock_runs": INTERVAL_SOURCE, "clock_events": EVENT_SOURCE, "clock_completions": COMPLETION_SOURCE}
    for name, text in sources.items():
        (root / "sources_config" / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMMITMENTS_CALENDARS_FILE", str(CALENDARS))
        mp.setenv("COMMITMENTS_FILE", str(FIXTURES / "commitments_clock_cases.yaml"))
        run_pipeline(date(2026, 9, 28), date(2026, 11, 6))
        yield randoms


def completed(work_order_id: str) -> pd.Series:
    """The run's row in the day it completed (the one daily row where it is completed)."""
    rows = query(
        "select * from {s}.node_run_states_daily "
        f"where work_order_id = '{work_order_id}' and run_status = 'completed'"
    )
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.mark.parametrize(("wo", "node", "start", "end", "seconds", "state"), RUNS, ids=[r[0] for r in RUNS])
def test_hand_worked_run_times(measured, wo, node, start, end, seconds, state) -> None:
    row = completed(wo)
    assert row.node_code == node
    assert row.run_seconds == pytest.approx(seconds)
    assert row.state == state
    wall = (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds()
    assert row.wall_seconds == pytest.approx(wall)
    assert row.paused_seconds == 0


def test_run_is_measured_by_the_calendar_version_in_force_at_its_start(measured) -> None:
    assert completed("ACROSS_VERSION").calendar_version_id == VERSION_1
    assert completed("AFTER_VERSION").calendar_version_id == VERSION_2
    assert completed("MAKEUP_WEEKEND").clock == "cn_office"
    assert completed("WALL_INSTALL").clock == "wall"
    assert pd.isna(completed("WALL_INSTALL").calendar_version_id)


def test_holiday_across_period_boundaries(measured) -> None:
    """Open over National Day, which spans the start of October and the weeks of 09-28 and 10-05: 1 working
    hour by the as_of of each period before it ends, 2 in the periods where it ends."""
    rows = query(
        "select period_id, state, run_seconds from {s}.node_run_states_weekly "
        "where work_order_id = 'HOLIDAY_ACROSS' union all "
        "select period_id, state, run_seconds from {s}.node_run_states_daily "
        "where work_order_id = 'HOLIDAY_ACROSS' and period_id in ('day:2026-09-30', 'day:2026-10-04') union all "
        "select period_id, state, run_seconds from {s}.node_run_states_monthly where work_order_id = 'HOLIDAY_ACROSS'"
    )
    got = {r.period_id: (r.state, r.run_seconds) for r in rows.itertuples()}
    assert got == {
        "week:2026-09-28": ("in_progress_normal", 1 * H),
        "week:2026-10-05": ("completed_normal", 2 * H),
        "day:2026-09-30": ("in_progress_normal", 1 * H),
        "day:2026-10-04": ("in_progress_normal", 1 * H),
        "month:2026-10-01": ("completed_normal", 2 * H),
    }


def test_pause_spanning_a_holiday_removes_only_its_working_time(measured) -> None:
    """CALLBACK from Tue 09-29 10:00 to Thu 10-08 15:00, waiting for the customer from Wed 09-30 16:00 to
    10-08 11:00. Working time 6.5 + 7.5 + 4.5 = 18.5 h; in the pause 2 h + 2 h (the holidays hold none)."""
    row = completed("P_HOLIDAY")
    assert row.node_code == "FOLLOWUP" and row.visit == 1
    assert row.paused_seconds == pytest.approx(4 * H)
    assert row.run_seconds == pytest.approx(14.5 * H)
    assert row.wall_seconds == pytest.approx(221 * H)
    assert row.state == "completed_acceptable"  # 14.5 h <= 2d = 15 h


def test_pause_on_the_wall_clock(measured) -> None:
    row = completed("P_WALL")
    assert (row.paused_seconds, row.run_seconds, row.state) == (8 * H, 4 * H, "completed_normal")


def test_completion_marked_pause(measured) -> None:
    """INSTALLED at 15:00 closes the run begun at the last other event (09:00); WAIT_VENDOR at 11:00 says
    the two hours before it were spent waiting."""
    row = completed("C_PAUSE")
    assert row.node_code == "INSTALL"
    assert (row.wall_seconds, row.paused_seconds, row.run_seconds) == (6 * H, 2 * H, 4 * H)
    assert query("select count(*) as n from {s}.fct_node_runs where work_order_id = 'C_PAUSE'").n.iloc[0] == 1


def test_open_pause_freezes_the_clock(measured) -> None:
    rows = query(
        "select period_id, state, run_seconds, paused_seconds from {s}.node_run_states_daily "
        "where work_order_id = 'P_OPEN' and period_id in ('day:2026-10-13', 'day:2026-10-14', 'day:2026-10-17')"
    )
    got = {r.period_id: (r.state, r.run_seconds, r.paused_seconds) for r in rows.itertuples()}
    assert got == {
        "day:2026-10-13": ("in_progress_normal", 1 * H, 6.5 * H),
        "day:2026-10-14": ("in_progress_normal", 1 * H, 14 * H),
        "day:2026-10-17": ("in_progress_normal", 1 * H, 29 * H),  # Tue..Fri working time, less the first hour
    }


def test_end_to_end_time_on_the_business_clock(measured) -> None:
    rows = query(
        "select work_order_id, order_status, e2e_run_seconds, e2e_state from {s}.work_order_status_daily "
        "where (work_order_id = 'MAKEUP_WEEKEND' and period_id = 'day:2026-10-12') "
        "or (work_order_id = 'P_HOLIDAY' and period_id = 'day:2026-10-08')"
    )
    got = {r.work_order_id: (r.order_status, r.e2e_run_seconds, r.e2e_state) for r in rows.itertuples()}
    assert got == {
        "MAKEUP_WEEKEND": ("completed", 10.5 * H, "completed_normal"),
        "P_HOLIDAY": ("completed", 14.5 * H, "completed_normal"),
    }


def test_rates_follow_the_states(measured) -> None:
    """Only the clock changed: achievement rates still count the states as SEMANTICS.md says."""
    rate = query(
        "select total_runs, completed_normal, completed_acceptable, completed_warning, evaluated_runs, "
        "achievement_rate from {s}.achievement_rates_monthly where period_id = 'month:2026-10-01' "
        "and grouping_level = 'process_node' and node_code = 'ACCEPT'"
    ).iloc[0]
    states = (
        query(
            "select state, count(*) as n from {s}.node_run_states_monthly "
            "where period_id = 'month:2026-10-01' and node_code = 'ACCEPT' group by state"
        )
        .set_index("state")
        .n
    )
    assert rate.total_runs == states.sum()
    assert rate.completed_warning == states.get("completed_warning", 0) > 0
    normal = states.get("completed_normal", 0) + states.get("in_progress_normal", 0)
    assert rate.achievement_rate == pytest.approx(normal / rate.evaluated_runs)


def test_random_runs_match_interval_arithmetic(measured: pd.DataFrame) -> None:
    """The warehouse's table lookups agree with plain interval arithmetic on 300 random runs."""
    calendars = load_calendars(date(2026, 1, 1), CALENDARS)
    got = (
        query(
            "select work_order_id, run_seconds from {s}.node_run_states_daily "
            "where work_order_id like 'R%' and run_status = 'completed'"
        )
        .set_index("work_order_id")
        .run_seconds
    )
    assert len(got) == len(measured)
    start, end = (
        measured[c]
        .dt.tz_localize("Asia/Shanghai")
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
        .astype("datetime64[s]")
        .astype("int64")
        for c in ("start", "end")
    )
    expected = pd.Series(np.nan, index=measured.wo)
    for version in calendars["cn_office"]:
        valid_from = pd.Timestamp(version.valid_from).value // 10**9
        valid_to = pd.Timestamp(version.valid_to).value // 10**9 if version.valid_to else np.inf
        mine = ((start >= valid_from) & (start < valid_to)).to_numpy()
        readings = [working_time_at(version, date(2026, 1, 1), t.to_numpy()[mine]) for t in (start, end)]
        expected[mine] = readings[1] - readings[0]
    assert expected.notna().all()
    pd.testing.assert_series_equal(got.sort_index().astype(float), expected.sort_index(), check_names=False)


# Configuration errors fail by name, before anything is written.


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calendars.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_holidays_from_a_file(tmp_path: Path) -> None:
    """A company calendar from a file: Wednesday 2026-03-11 off, Saturday 2026-03-14 worked (Friday's hours)."""
    (tmp_path / "days.csv").write_text("date,kind\n2026-03-11,holiday\n2026-03-14,workday\n", encoding="utf-8")
    path = write(
        tmp_path,
        f"""\
        calendars:
          plant:
            time_zone: Europe/Berlin
            versions:
              - valid_from: 2026-01-01
                working_hours: {{mon: [08:00-16:00], tue: [08:00-16:00], wed: [08:00-16:00], thu: [08:00-16:00],
                                 fri: [07:00-13:00]}}
                holidays: {{file: "{tmp_path / "days.csv"}"}}
                make_up_hours: fri
        """,
    )
    version = load_calendars(date(2026, 1, 1), path)["plant"][0]
    # Mon 03-09 00:00 to Mon 03-16 00:00 local (UTC+1): Mon, Tue, Thu 8 h; Fri and Sat 6 h.
    week = pd.to_datetime(["2026-03-08 23:00", "2026-03-15 23:00"]).astype("datetime64[s]").astype("int64")
    readings = working_time_at(version, date(2026, 1, 1), week.to_numpy())
    assert readings[1] - readings[0] == (3 * 8 + 2 * 6) * H


def test_china_calendar_fails_clearly_beyond_the_package(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        calendars:
          cn:
            time_zone: Asia/Shanghai
            versions:
              - {valid_from: 2026-01-01, working_hours: {mon: [09:00-17:00]}, holidays: china, until: 2027-12-31}
        """,
    )
    with pytest.raises(CalendarError, match=r"calendars.cn.versions\[0\]: chinese-calendar .* no holidays for 2027"):
        load_calendars(date(2026, 1, 1), path)


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        (
            "[{valid_from: 2026-01-01, working_hours: {mon: [09:00-17:00]}},"
            " {valid_from: 2026-06-01, working_hours: {mon: [09:00-17:00]}}]",
            r"calendars.office.versions\[1\]: overlaps .*calendars.office.versions\[0\]",
        ),
        ("[{valid_from: 2026-01-01, working_hours: {mon: [17:00-09:00]}}]", "must start before it ends"),
        ("[{valid_from: 2026-01-01, working_hours: {mon: [09:00-13:00, 12:00-17:00]}}]", "mon intervals overlap"),
        ("[{valid_from: 2026-01-01, working_hours: {monday: [09:00-17:00]}}]", "unknown weekday 'monday'"),
        ("[{valid_from: 2026-01-01, working_hours: {mon: [09:00-17:00]}, holidays: mars}]", "holidays must be"),
    ],
)
def test_invalid_calendars_are_rejected_by_name(tmp_path: Path, versions: str, message: str) -> None:
    path = write(tmp_path, f"calendars:\n  office:\n    time_zone: UTC\n    versions: {versions}\n")
    with pytest.raises(CalendarError, match=message):
        load_calendars(date(2026, 1, 1), path)


def test_a_day_on_a_business_clock_is_its_nominal_working_day(tmp_path: Path) -> None:
    calendars = load_calendars(date(2026, 1, 1), CALENDARS)
    catalogue = load_catalogue(settings_of_env().processes_file)
    commitments = load_commitments(FIXTURES / "commitments_clock_cases.yaml", catalogue, calendars, SHANGHAI)
    limits = commitments.set_index("node_code")[["commitment_seconds", "tolerance_seconds", "clock"]]
    assert tuple(limits.loc["ACCEPT"]) == (4 * H, 7.5 * H, "cn_office")
    assert tuple(limits.loc["DISPATCH"]) == (2 * H, 3 * H, "us_office")
    assert tuple(limits.loc["INSTALL"]) == (24 * H, 48 * H, "wall")
    assert parse_duration("3d", 8 * H) == 24 * H

    bad = tmp_path / "commitments.yaml"
    bad.write_text(
        "commitments:\n  - {process: BROADBAND, node: ACCEPT, segment: '*', commitment: 1h, tolerance: 2h,"
        " valid_from: 2026-01-01, clock: moon_office}\n",
        encoding="utf-8",
    )
    with pytest.raises(CommitmentError, match=r"commitments\[0\] \(BROADBAND / ACCEPT / \*\): clock 'moon_office'"):
        load_commitments(bad, load_catalogue(settings_of_env().processes_file), calendars, SHANGHAI)
