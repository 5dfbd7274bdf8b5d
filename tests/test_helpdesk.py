"""The real help-desk event log (../shared/datasets/helpdesk) loads through the file kind by
configuration alone, and yields exactly the node runs SEMANTICS.md's completion-marked rule gives,
computed here independently, row by row, in plain Python."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests.conftest import HELPDESK_CSV, query, run_pipeline, use_source

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)


def expected_runs() -> pd.DataFrame:
    """The completion-marked rule, written the slow, obvious way."""
    rome, utc = ZoneInfo("Europe/Rome"), ZoneInfo("UTC")
    node = {
        "Insert ticket": "INSERT_TICKET", "Assign seriousness": "ASSIGN_SERIOUSNESS",
        "Take in charge ticket": "TAKE_IN_CHARGE", "Wait": "WAIT", "Require upgrade": "REQUIRE_UPGRADE",
        "Create SW anomaly": "CREATE_SW_ANOMALY", "Resolve SW anomaly": "RESOLVE_SW_ANOMALY",
        "Schedule intervention": "SCHEDULE_INTERVENTION", "Resolve ticket": "RESOLVE", "Closed": "CLOSE",
        "VERIFIED": "VERIFY", "RESOLVED": "VERIFY", "INVALID": "VERIFY", "DUPLICATE": "VERIFY",
    }  # fmt: skip
    events: dict[str, list[tuple[datetime, int, str, str]]] = {}
    with HELPDESK_CSV.open(encoding="utf-8") as f:
        for i, row in enumerate(csv.reader(f)):
            if i == 0:
                continue
            local = datetime.strptime(row[3], "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=rome)
            at = local.astimezone(utc).replace(tzinfo=None)
            events.setdefault(row[0], []).append((at, i, node[row[1]], row[15]))
    runs = []
    for case, evs in events.items():
        evs.sort()
        merged: list[list] = []
        for (prev_at, _, _, _), (at, _, code, dept) in zip(evs, evs[1:], strict=False):
            if merged and merged[-1][1] == code and merged[-1][2] == dept:
                merged[-1][4] = at  # same node, same department, contiguous: one run
            else:
                merged.append([case, code, dept, prev_at, at])
        visits: dict[str, int] = {}
        for case_id, code, _, start, end in merged:
            visits[code] = visits.get(code, 0) + 1
            runs.append((case_id, code, visits[code], start, end))
    return pd.DataFrame(runs, columns=["work_order_id", "node_code", "visit", "start_at", "end_at"])


@pytest.fixture(scope="module")
def helpdesk(module_pipeline_env: Path) -> Iterator[None]:
    if not HELPDESK_CSV.exists():
        pytest.fail(f"the shared dataset {HELPDESK_CSV} is missing")
    use_source(module_pipeline_env, "helpdesk")
    run_pipeline(date(2010, 1, 1), date(2014, 1, 31))
    yield


def test_helpdesk_yields_the_completion_marked_runs(helpdesk: None) -> None:
    got = query("select work_order_id, node_code, visit, start_at, end_at, cancelled_at from {s}.fct_node_runs")
    assert got.cancelled_at.isna().all()
    got = got.drop(columns="cancelled_at")
    want = expected_runs()
    assert len(got) == len(want) > 16000
    key = ["work_order_id", "node_code", "visit"]
    merged = want.merge(got, on=key, how="outer", suffixes=("_want", "_got"), indicator=True)
    assert (merged._merge == "both").all(), merged[merged._merge != "both"].head()
    assert (pd.to_datetime(merged.start_at_want) == pd.to_datetime(merged.start_at_got)).all()
    assert (pd.to_datetime(merged.end_at_want) == pd.to_datetime(merged.end_at_got)).all()


def test_helpdesk_case_1_by_hand(helpdesk: None) -> None:
    # Case 1 in Rome time (CEST until 28 Oct 2012, then CET): assign 10-09 14:50:17, take in charge
    # 14:51:01 and 10-12 15:02:56 (same workgroup: one run), resolve 10-25 11:54:26, closed 11-09 12:54:39.
    got = query(
        "select node_code, visit, segment, start_at, end_at from {s}.fct_node_runs "
        "where work_order_id = 'Case 1' order by start_at"
    )
    assert [tuple(r) for r in got.astype(str).itertuples(index=False)] == [
        ("TAKE_IN_CHARGE", "1", "Value 2", "2012-10-09 12:50:17", "2012-10-12 13:02:56"),
        ("RESOLVE", "1", "Value 2", "2012-10-12 13:02:56", "2012-10-25 09:54:26"),
        ("CLOSE", "1", "Value 2", "2012-10-25 09:54:26", "2012-11-09 11:54:39"),
    ]


def test_helpdesk_marts_account_for_every_run(helpdesk: None) -> None:
    """Each month's mart counts exactly the runs in scope of that month, and the states add up."""
    in_scope = (
        query(
            "select p.period_id, count(*) as n from {s}.dim_periods p join {s}.fct_node_runs r "
            "on r.start_at < p.period_end and (r.end_at is null or r.end_at >= p.period_start) "
            "where p.period_grain = 'month' and p.period_start_date between '2012-01-01' and '2012-12-01' "
            "group by p.period_id"
        )
        .set_index("period_id")
        .n
    )
    marts = query(
        "select period_id, total_runs, completed_normal + completed_acceptable + completed_warning "
        "+ in_progress_normal + in_progress_acceptable + in_progress_warning + cancelled + no_commitment "
        "as by_state from {s}.achievement_rates_monthly where grouping_level = 'all'"
    ).set_index("period_id")
    assert len(in_scope) == 12
    for period, n in in_scope.items():
        assert int(marts.loc[period].total_runs) == int(n) == int(marts.loc[period].by_state)
