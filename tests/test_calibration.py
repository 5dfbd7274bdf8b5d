"""Commitment calibration and bottlenecks (docs/CALIBRATION.md), on DuckDB and on PostgreSQL.

One pipeline per warehouse over August to October 2026: the three demo systems at a low volume, and a
file of hand-worked HELPDESK runs (a process the demo does not generate) with commitments added for its
nodes. HELPDESK overrides the calibration defaults in its processes.yaml entry: normal_target 0.7,
min_runs 10 (the others keep 0.80, 0.95 and 30). Times are Asia/Shanghai local.

Hand-worked, October (wall clock unless said):
- INSERT_TICKET 10min/20min, 10 runs of 1..10 min. Nearest rank: p50 = rank 5 = 5 min, p80 = 8, p90 = 9,
  p95 = rank ceil(9.5) = 10. Commitment proposal: rank ceil(0.7 * 10) = 7 → 7 min; tolerance rank 10 →
  10 min. All within 10 min: rate 1.0, raise_commitment; both proposals tighter (7 < 10, 10 < 20).
- WAIT 1h/2h, 9 runs of 30 min: too few (9 < 10), no proposal.
- CREATE_SW_ANOMALY 1h/2h, 10 runs of 61..70 min: rank 7 = 67 min = 4,020 s → quarter hours → 4,500 s
  (1h15); tolerance 70 min → 4,500. Rate 0: improve_process; the commitment proposal is looser.
- RESOLVE_SW_ANOMALY 1d/2d, 10 runs of 20..29 h: rank 7 = 26 h = 93,600 s, above a day → half days →
  129,600 s (1.5d); tolerance 29 h → 1.5d. Rate 0.5 (20..24 h), no flag.
- SCHEDULE_INTERVENTION 1d/2d on cn_office (1d = 7.5 working hours, 09:00-12:00 + 13:30-18:00), 10 runs
  from Mon 10-12 09:00 of 1, 2, 3, 4, 5, 6, 7, 7.5, 8.5, 9.5 working hours (the last two end on Tuesday).
  Rank 7 = 7 h = 25,200 s → 7h (quarter hours, below the 27,000 s day); tolerance rank 10 = 9.5 h =
  34,200 s → half days of 13,500 s → 40,500 s (1.5d). Rate 8/10.
Trend (three months of 1h/2h runs inside each month): VERIFY 0.5, 0.6, 0.7 → improving; REQUIRE_UPGRADE
0.8, 0.6, 0.5 → declining; ASSIGN_SERIOUSNESS (1d) 10/20, 10/20, 13/25 → slope exactly 0.01 → stable.
Bottlenecks, October: B1 and B4 wait in RESOLVE since August 2 and 10, B2 in TAKE_IN_CHARGE since August
5: three end-to-end warnings (over 60d); B5 takes charge twice (rework).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from tests.conftest import (
    CONFIG_DIR,
    isolated_pipeline,
    query,
    run_pipeline,
    settings_of_env,
    use_source,
    warehouse_of_env,
)

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2026, 8, 1), date(2026, 10, 31)
OCTOBER = "month:2026-10-01"
# The demo systems run from DEMO_FIRST only (October and a few days of carry-in), at a volume where each
# node's excess time is not dominated by the generator's boundary runs (each day's first order at 00:00).
DEMO_FIRST = date(2026, 9, 24)
ORDERS_PER_DAY = 20
MIN, H, D = 60, 3600, 86400
OFFICE_DAY = 27000  # cn_office nominal_day 7.5h

EXTRA_COMMITMENTS = """
  - {process: HELPDESK, node: INSERT_TICKET, segment: "*", commitment: 10min, tolerance: 20min, valid_from: 2010-01-01}
  - {process: HELPDESK, node: WAIT, segment: "*", commitment: 1h, tolerance: 2h, valid_from: 2010-01-01}
  - {process: HELPDESK, node: CREATE_SW_ANOMALY, segment: "*", commitment: 1h, tolerance: 2h, valid_from: 2010-01-01}
  - {process: HELPDESK, node: RESOLVE_SW_ANOMALY, segment: "*", commitment: 1d, tolerance: 2d, valid_from: 2010-01-01}
  - {process: HELPDESK, node: SCHEDULE_INTERVENTION, segment: "*", commitment: 1d, tolerance: 2d,
     valid_from: 2010-01-01, clock: cn_office}
  - {process: HELPDESK, node: VERIFY, segment: "*", commitment: 1h, tolerance: 2h, valid_from: 2010-01-01}
  - {process: HELPDESK, node: REQUIRE_UPGRADE, segment: "*", commitment: 1h, tolerance: 2h, valid_from: 2010-01-01}
"""

SOURCE = """\
name: calibration_runs
kind: file
freshness: "off"  # hand-worked cases spread over months, not a live feed
path: "{data_dir}/calibration_runs.csv"
time_zone: Asia/Shanghai
shape: intervals
columns: {work_order_id: wo, node: node, start_at: start, end_at: end}
process: HELPDESK
nodes:
  HELPDESK: {INSERT_TICKET: INSERT_TICKET, WAIT: WAIT, CREATE_SW_ANOMALY: CREATE_SW_ANOMALY,
             RESOLVE_SW_ANOMALY: RESOLVE_SW_ANOMALY, SCHEDULE_INTERVENTION: SCHEDULE_INTERVENTION,
             VERIFY: VERIFY, REQUIRE_UPGRADE: REQUIRE_UPGRADE, ASSIGN_SERIOUSNESS: ASSIGN_SERIOUSNESS,
             TAKE_IN_CHARGE: TAKE_IN_CHARGE, RESOLVE: RESOLVE}
"""


def _runs_of(node: str, prefix: str, start: str, seconds: list[float]) -> list[tuple]:
    begin = pd.Timestamp(start)
    return [(f"{prefix}{i:02d}", node, begin, begin + pd.Timedelta(seconds=s)) for i, s in enumerate(seconds)]


def _month(node: str, prefix: str, month: int, normal: int, over: int, limit: float) -> list[tuple]:
    """`normal` runs of half the limit and `over` of 1.5 times it, started on the 3rd of the month."""
    return _runs_of(node, prefix, f"2026-{month:02d}-03 00:00", [limit / 2] * normal + [limit * 1.5] * over)


def hand_worked_runs() -> pd.DataFrame:
    office = [1, 2, 3, 4, 5, 6, 7, 7.5, 8.5, 9.5]
    # Working hours from Mon 10-12 09:00 -> the local end: the morning to 12:00, the afternoon from 13:30.
    office_ends = ["10:00", "11:00", "12:00", "14:30", "15:30", "16:30", "17:30", "18:00"]
    office_runs = [
        (f"SI{i:02d}", "SCHEDULE_INTERVENTION", pd.Timestamp("2026-10-12 09:00"), pd.Timestamp(f"2026-10-12 {end}"))
        for i, end in enumerate(office_ends)
    ]
    office_runs += [
        ("SI08", "SCHEDULE_INTERVENTION", pd.Timestamp("2026-10-12 09:00"), pd.Timestamp("2026-10-13 10:00")),
        ("SI09", "SCHEDULE_INTERVENTION", pd.Timestamp("2026-10-12 09:00"), pd.Timestamp("2026-10-13 11:00")),
    ]
    assert len(office_runs) == len(office)
    rows = [
        *_runs_of("INSERT_TICKET", "IT", "2026-10-05 10:00", [m * MIN for m in range(1, 11)]),
        *_runs_of("WAIT", "WT", "2026-10-05 10:00", [30 * MIN] * 9),
        *_runs_of("CREATE_SW_ANOMALY", "CA", "2026-10-05 10:00", [m * MIN for m in range(61, 71)]),
        *_runs_of("RESOLVE_SW_ANOMALY", "RA", "2026-10-05 10:00", [h * H for h in range(20, 30)]),
        *office_runs,
        *_month("VERIFY", "V08", 8, 5, 5, H),
        *_month("VERIFY", "V09", 9, 6, 4, H),
        *_month("VERIFY", "V10", 10, 7, 3, H),
        *_month("REQUIRE_UPGRADE", "U08", 8, 8, 2, H),
        *_month("REQUIRE_UPGRADE", "U09", 9, 6, 4, H),
        *_month("REQUIRE_UPGRADE", "U10", 10, 5, 5, H),
        *_month("ASSIGN_SERIOUSNESS", "S08", 8, 10, 10, D),
        *_month("ASSIGN_SERIOUSNESS", "S09", 9, 10, 10, D),
        *_month("ASSIGN_SERIOUSNESS", "S10", 10, 13, 12, D),
        # Bottlenecks: open runs (no end) that make their work orders late end to end.
        ("B1", "TAKE_IN_CHARGE", pd.Timestamp("2026-08-01 00:00"), pd.Timestamp("2026-08-02 00:00")),
        ("B1", "RESOLVE", pd.Timestamp("2026-08-02 00:00"), pd.NaT),
        ("B2", "TAKE_IN_CHARGE", pd.Timestamp("2026-08-05 00:00"), pd.NaT),
        ("B3", "TAKE_IN_CHARGE", pd.Timestamp("2026-10-01 00:00"), pd.Timestamp("2026-10-02 00:00")),
        ("B4", "RESOLVE", pd.Timestamp("2026-08-10 00:00"), pd.NaT),
        ("B5", "TAKE_IN_CHARGE", pd.Timestamp("2026-10-05 00:00"), pd.Timestamp("2026-10-05 12:00")),
        ("B5", "RESOLVE", pd.Timestamp("2026-10-05 12:00"), pd.Timestamp("2026-10-06 00:00")),
        ("B5", "TAKE_IN_CHARGE", pd.Timestamp("2026-10-06 00:00"), pd.Timestamp("2026-10-06 06:00")),
    ]
    frame = pd.DataFrame(rows, columns=["wo", "node", "start", "end"])
    fmt = "%Y-%m-%d %H:%M:%S"
    return frame.assign(start=frame.start.dt.strftime(fmt), end=frame.end.dt.strftime(fmt).fillna(""))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, warehouse_target: str) -> Iterator[Path]:
    from demo.generator import generate_truth, write_sources
    from demo.ticket_api_server import serve_in_background

    root = tmp_path_factory.mktemp("calibration")
    with isolated_pipeline(root, warehouse_target), pytest.MonkeyPatch.context() as mp:
        for name in ("oa_workflow", "settlement_files", "ticket_api"):
            use_source(root, name)
            declaration = root / "sources_config" / f"{name}.yaml"
            # Quiet until DEMO_FIRST: the freshness check would stop August and September.
            declaration.write_text(declaration.read_text(encoding="utf-8") + '\nfreshness: "off"\n', encoding="utf-8")
        now = datetime.combine(date(2026, 11, 1), datetime.min.time(), SHANGHAI).astimezone(UTC)
        # Settlement drops (header only before DEMO_FIRST) for every day of the range, as the source expects.
        write_sources(generate_truth(DEMO_FIRST, now, ORDERS_PER_DAY, seed=5), root, now, start=FIRST)
        mp.setenv("OA_DB_URL", f"sqlite:///{root / 'sources' / 'oa_workflow.sqlite'}")
        server, url = serve_in_background(root / "sources" / "ticket_events.jsonl")
        mp.setenv("TICKET_API_URL", url)
        hand_worked_runs().to_csv(root / "calibration_runs.csv", index=False)
        (root / "sources_config" / "calibration_runs.yaml").write_text(SOURCE, encoding="utf-8")
        commitments = root / "commitments.yaml"
        commitments.write_text((CONFIG_DIR / "commitments.yaml").read_text(encoding="utf-8") + EXTRA_COMMITMENTS)
        mp.setenv("COMMITMENTS_FILE", str(commitments))
        processes = root / "processes.yaml"
        catalogue = (CONFIG_DIR / "processes.yaml").read_text(encoding="utf-8")
        anchor = "    owner_department: Support\n"
        assert anchor in catalogue
        override = "    calibration: {normal_target: 0.7, min_runs: 10}\n"
        processes.write_text(catalogue.replace(anchor, anchor + override), encoding="utf-8")
        mp.setenv("COMMITMENTS_PROCESSES_FILE", str(processes))
        try:
            run_pipeline(FIRST, LAST)
            yield root
        finally:
            server.shutdown()


def calibration(node: str, period: str = OCTOBER) -> pd.Series:
    rows = query(
        "select * from {s}.commitment_calibration_monthly "
        f"where process_code = 'HELPDESK' and node_code = '{node}' and period_id = '{period}'"
    )
    assert len(rows) == 1, rows
    return rows.iloc[0]


def _seconds(row: pd.Series, *columns: str) -> tuple:
    return tuple(None if pd.isna(row[c]) else float(row[c]) for c in columns)


PERCENTILES = ("p50_seconds", "p80_seconds", "p90_seconds", "p95_seconds", "max_seconds")
PROPOSALS = ("proposed_commitment_seconds", "proposed_tolerance_seconds")


def test_nearest_rank_percentiles_and_minute_rounding(built) -> None:
    row = calibration("INSERT_TICKET")
    assert row.completed_runs == 10 and row.segment == "(none)"
    assert _seconds(row, *PERCENTILES) == (5 * MIN, 8 * MIN, 9 * MIN, 10 * MIN, 10 * MIN)
    assert (row.normal_target, row.tolerance_target, row.min_runs) == (0.7, 0.95, 10)  # the process's own
    assert _seconds(row, *PROPOSALS) == (7 * MIN, 10 * MIN)
    assert (row.commitment_seconds, row.tolerance_seconds) == (10 * MIN, 20 * MIN)
    assert (row.direction, row.tolerance_direction) == ("tighter", "tighter")
    assert row.achievement_rate == 1.0 and row.flag == "raise_commitment"
    assert row.commitment_version_id.startswith("HELPDESK|INSERT_TICKET|*|") and row.commitment_versions == 1
    assert pd.isna(row.proposal_reason)


def test_too_few_runs_gives_a_reason_and_no_proposal(built) -> None:
    row = calibration("WAIT")
    assert row.completed_runs == 9 and row.p50_seconds == 30 * MIN
    assert _seconds(row, *PROPOSALS) == (None, None)
    assert pd.isna(row.direction) and pd.isna(row.tolerance_direction)
    assert row.proposal_reason == "too few completed runs: 9 < 10"


def test_quarter_hour_rounding_and_an_improve_process_node(built) -> None:
    row = calibration("CREATE_SW_ANOMALY")
    assert _seconds(row, *PROPOSALS) == (4500, 4500)  # 67 min and 70 min -> 1h15
    assert row.achievement_rate == 0.0 and row.flag == "improve_process"
    assert (row.direction, row.tolerance_direction) == ("looser", "tighter")


def test_half_day_rounding_on_the_wall_clock(built) -> None:
    row = calibration("RESOLVE_SW_ANOMALY")
    assert _seconds(row, *PROPOSALS) == (1.5 * D, 1.5 * D)  # 26 h and 29 h
    assert row.clock_day_seconds == D and row.achievement_rate == 0.5 and pd.isna(row.flag)


def test_business_clock_node_is_calibrated_on_working_time(built) -> None:
    row = calibration("SCHEDULE_INTERVENTION")
    assert row.clock == "cn_office" and row.clock_day_seconds == OFFICE_DAY
    assert _seconds(row, *PERCENTILES) == (5 * H, 7.5 * H, 8.5 * H, 9.5 * H, 9.5 * H)
    assert _seconds(row, *PROPOSALS) == (7 * H, 1.5 * OFFICE_DAY)  # 7h; 9.5 h -> 1.5 working days
    assert (row.direction, row.tolerance_direction) == ("tighter", "tighter")
    assert row.achievement_rate == pytest.approx(0.8)


def test_defaults_apply_to_processes_without_their_own(built) -> None:
    targets = query(
        "select distinct process_code, normal_target, tolerance_target, min_runs "
        "from {s}.commitment_calibration_monthly where process_code <> 'HELPDESK'"
    )
    assert set(targets.process_code) == {"REMUNERATION", "BROADBAND", "COMPLAINT"}
    assert set(zip(targets.normal_target, targets.tolerance_target, targets.min_runs, strict=True)) == {(0.8, 0.95, 30)}


def test_one_row_per_judged_node_and_segment(built) -> None:
    """Every process_node_segment rate row with evaluated runs has exactly one calibration row."""
    rates = query(
        "select period_id, process_code, node_code, segment from {s}.achievement_rates_monthly "
        "where grouping_level = 'process_node_segment' and evaluated_runs > 0"
    )
    rows = query("select period_id, process_code, node_code, segment from {s}.commitment_calibration_monthly")
    key = ["period_id", "process_code", "node_code", "segment"]
    assert len(rows) == len(rates) > 30
    pd.testing.assert_frame_equal(
        rows.sort_values(key).reset_index(drop=True), rates.sort_values(key).reset_index(drop=True)
    )


def trend(node: str) -> pd.Series:
    rows = query(
        "select * from {s}.process_bottlenecks_monthly where process_code = 'HELPDESK' "
        f"and grouping_level = 'process_node' and node_code = '{node}' and period_id = '{OCTOBER}'"
    )
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.mark.parametrize(
    ("node", "rates", "direction"),
    [
        ("VERIFY", (0.5, 0.6, 0.7), "improving"),
        ("REQUIRE_UPGRADE", (0.8, 0.6, 0.5), "declining"),
        ("ASSIGN_SERIOUSNESS", (0.5, 0.5, 0.52), "stable"),  # slope exactly the tolerance (0.01)
    ],
)
def test_trend_over_three_months(built, node: str, rates: tuple, direction: str) -> None:
    row = trend(node)
    got = (row.achievement_rate_two_before, row.previous_achievement_rate, row.achievement_rate)
    assert got == pytest.approx(rates)
    assert row.achievement_rate_change == pytest.approx(rates[2] - rates[1])
    assert row.trend_slope == pytest.approx((rates[2] - rates[0]) / 2)
    assert row.trend == direction


def test_trend_needs_three_periods(built) -> None:
    row = trend("INSERT_TICKET")  # only October
    assert pd.isna(row.previous_achievement_rate) and pd.isna(row.trend)


def test_bottleneck_shares_and_rank(built) -> None:
    rows = query(
        "select * from {s}.process_bottlenecks_monthly where process_code = 'HELPDESK' "
        f"and grouping_level = 'process_node' and period_id = '{OCTOBER}'"
    ).set_index("node_code")
    assert (rows.warning_work_orders == 3).all()  # B1, B2, B4: open since August, over 60d end to end
    resolve, take = rows.loc["RESOLVE"], rows.loc["TAKE_IN_CHARGE"]
    assert resolve.bottleneck_rank == 1 and take.bottleneck_rank == 2
    assert resolve.warning_order_share == pytest.approx(2 / 3)
    assert take.warning_order_share == pytest.approx(1 / 3)
    # As of 11-01 00:00: B1 in RESOLVE 91 days, B4 83 days, over 5d; B2 in TAKE_IN_CHARGE 88 days, over 2d.
    assert resolve.excess_seconds == pytest.approx((91 - 5) * D + (83 - 5) * D)
    assert take.excess_seconds == pytest.approx((88 - 2) * D)
    assert resolve.excess_seconds_in_warning_orders == pytest.approx(resolve.excess_seconds)
    assert (take.work_orders, take.rework_work_orders, take.rework_share) == (3, 1, pytest.approx(1 / 3))
    assert resolve.rework_share == 0
    assert rows.excess_share.sum() == pytest.approx(1.0)
    departments = query(
        "select * from {s}.process_bottlenecks_monthly where process_code = 'HELPDESK' "
        f"and grouping_level = 'process_department' and period_id = '{OCTOBER}'"
    )
    # The file gives no department: one department row, (none), holding all of the process's excess.
    assert list(departments.department) == ["(none)"] and list(departments.node_code) == ["*"]
    assert departments.excess_seconds.iloc[0] == pytest.approx(rows.excess_seconds.sum())
    assert departments.bottleneck_rank.iloc[0] == 1 and departments.excess_share.iloc[0] == pytest.approx(1.0)


# The node of each demo process that demo/generator.py makes slowest against its commitment (NODES: the
# lowest share within the commitment limit, and the longest durations but for BROADBAND, whose INSTALL
# runs are longer in hours but mostly within their 24-48h limits).
SLOWEST = {"REMUNERATION": "REVIEW", "BROADBAND": "FOLLOWUP", "COMPLAINT": "HANDLE"}


def test_bottleneck_names_the_node_the_generator_made_slowest(built) -> None:
    """Done means: for each demo process, the top bottleneck is the node the generator made slowest."""
    from demo.generator import NODES, PROCESSES

    assert {p.code for p in PROCESSES} == set(SLOWEST)
    assert all((process, node) in {(n.process, n.code) for n in NODES} for process, node in SLOWEST.items())
    top = query(
        "select process_code, node_code from {s}.process_bottlenecks_monthly "
        f"where grouping_level = 'process_node' and bottleneck_rank = 1 and period_id = '{OCTOBER}'"
    )
    got = dict(zip(top.process_code, top.node_code, strict=True))
    assert {p: got.get(p) for p in SLOWEST} == SLOWEST


def _round_limit(value: float, day: int) -> float:
    """The smallest value of the grid of docs/CALIBRATION.md at or above `value`, by listing the grid."""
    grid = np.concatenate(
        [np.arange(60, 3601, 60), np.arange(3600 + 900, day + 1, 900), np.arange(day / 2, 400 * day, day / 2)]
    )
    return float(grid[grid >= value - 1e-9].min())


def test_proposals_match_an_independent_pandas_computation(built) -> None:
    """From the demo's October run states: the smallest round limit covering the target share, found by
    scanning the grid, and the nearest-rank percentiles from a sort."""
    states = query(
        "select process_code, node_code, coalesce(segment, '(none)') as segment, run_seconds, clock "
        f"from {{s}}.node_run_states_monthly where period_id = '{OCTOBER}' and run_status = 'completed' "
        "and band is not null and process_code <> 'HELPDESK'"
    )
    mart = query(
        f"select * from {{s}}.commitment_calibration_monthly where period_id = '{OCTOBER}' "
        "and process_code <> 'HELPDESK'"
    ).set_index(["process_code", "node_code", "segment"])
    proposals = 0
    for key, group in states.groupby(["process_code", "node_code", "segment"]):
        row = mart.loc[key]
        times = np.sort(group.run_seconds.to_numpy())
        n = len(times)
        assert row.completed_runs == n
        for p, column in ((0.5, "p50_seconds"), (0.8, "p80_seconds"), (0.95, "p95_seconds")):
            assert row[column] == pytest.approx(times[math.ceil(round(p * n, 9)) - 1])
        if n < 30:
            assert pd.isna(row.proposed_commitment_seconds)
            continue
        day = OFFICE_DAY if group.clock.iloc[0] == "cn_office" else D
        candidates = np.unique([_round_limit(t, day) for t in times])
        cover = [(times <= c).mean() for c in candidates]
        commitment = min(c for c, s in zip(candidates, cover, strict=True) if s >= 0.8)
        tolerance = max(commitment, min(c for c, s in zip(candidates, cover, strict=True) if s >= 0.95))
        assert (row.proposed_commitment_seconds, row.proposed_tolerance_seconds) == (commitment, tolerance), key
        proposals += 1
    assert proposals >= 5


def test_the_monthly_digest_of_proposals_goes_once_to_the_routes_that_name_it(built: Path) -> None:
    """config/alerts.yaml routes `proposals` to 服务质量部 (operations_log) only: monthly_job wrote October's
    digest beside the department reports, with the hand-worked proposals as commitments.yaml spells them,
    and recorded it once; publishing October again records nothing new."""
    from orchestration.reports.publish import publish_reports

    page = built / "reports" / "2026-10" / "_proposals.html"
    text = page.read_text(encoding="utf-8")
    rows = {cells[1]: cells for cells in (re.findall(r"<td>(.*?)</td>", tr, re.S) for tr in text.split("<tr>"))
            if len(cells) > 7 and cells[0] == "HELPDESK"}  # fmt: skip
    assert rows["INSERT_TICKET"][6:8] == ["10min / 20min", "7min / 10min"]
    assert rows["CREATE_SW_ANOMALY"][7] == "1.25h / 1.25h"
    assert rows["WAIT"][7] == "too few completed runs: 9 &lt; 10"
    assert "RESOLVE_SW_ANOMALY" not in rows  # no flag, no line
    assert "首要瓶颈" in text
    outbox = query("select delivery_key, recipient_department from {s}_landing.alert_outbox where level = 'proposals'")
    assert sorted(outbox.delivery_key) == [f"proposals|2026-{m}|服务质量部|operations_log" for m in ("08", "09", "10")]
    again = publish_reports(warehouse_of_env(), settings_of_env(), [date(2026, 10, 1)], datetime.now(UTC))
    assert again.proposals == {"2026-10": str(page)} and again.recorded == 0


def test_calibration_targets_default_and_override(tmp_path) -> None:
    """processes.yaml: the top-level calibration is the default, a process overrides any key, and the
    built-in defaults fill what neither sets."""
    from orchestration.reference.catalogue import CatalogueError, load_catalogue

    path = tmp_path / "processes.yaml"
    nodes = "    nodes: [{code: N, name: n, department: d, position: p}]\n"
    path.write_text(
        "calibration: {min_runs: 12}\nprocesses:\n"
        f"  - code: A\n    name: a\n    owner_department: d\n{nodes}"
        f"  - code: B\n    name: b\n    owner_department: d\n    calibration: {{normal_target: 0.85}}\n{nodes}",
        encoding="utf-8",
    )
    frame = load_catalogue(path).processes.set_index("process_code")
    columns = ["calibration_normal_target", "calibration_tolerance_target", "calibration_min_runs"]
    assert frame.loc["A", columns].tolist() == [0.80, 0.95, 12]
    assert frame.loc["B", columns].tolist() == [0.85, 0.95, 12]
    path.write_text(path.read_text(encoding="utf-8").replace("0.85", "1.5"), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"processes\.yaml:\d+: .*normal_target"):
        load_catalogue(path)
