"""Status histories become node runs by SEMANTICS.md's rules (entry- and completion-marked), through
the file kind, the Dagster jobs and dbt, on DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import query, run_pipeline

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

ENTRY_EVENTS = """\
order,type,status,at,team,tier
E1,BROADBAND,INSTALLING,2026-03-10T00:00:00Z,装维一组,VIP
E1,BROADBAND,INSTALLING,2026-03-10T01:00:00Z,装维一组,PUBLIC
E1,BROADBAND,INSTALLING,2026-03-10T02:00:00Z,装维二组,PUBLIC
E1,BROADBAND,CALLBACK,2026-03-10T03:00:00Z,客服中心,PUBLIC
E1,BROADBAND,CLOSED,2026-03-10T04:00:00Z,客服中心,PUBLIC
E2,BROADBAND,INSTALLING,2026-03-10T00:00:00Z,装维一组,PUBLIC
E2,BROADBAND,CANCELLED,2026-03-10T05:00:00Z,营业厅,PUBLIC
E3,BROADBAND,INSTALLING,2026-03-10T00:00:00Z,装维一组,PUBLIC
E3,BROADBAND,CALLBACK,2026-03-10T06:00:00Z,客服中心,PUBLIC
E4,COMPLAINT,REGISTERED,2026-03-10T00:00:00Z,客服中心,GOV
E4,COMPLAINT,HANDLING,2026-03-10T01:00:00Z,网络部,GOV
E4,COMPLAINT,REPLYING,2026-03-10T02:00:00Z,客服中心,GOV
E4,COMPLAINT,HANDLING,2026-03-10T03:00:00Z,网络部,GOV
E4,COMPLAINT,REPLYING,2026-03-10T04:00:00Z,客服中心,GOV
E4,COMPLAINT,CLOSED,2026-03-10T05:00:00Z,客服中心,GOV
"""

ENTRY_SOURCE = """\
name: entry_log
kind: file
path: "{data_dir}/entry.csv"
time_zone: UTC
shape: status_history
timestamp_marks: entry
columns: {work_order_id: order, process: type, status: status, event_at: at, department: team, segment: tier}
processes: {BROADBAND: BROADBAND, COMPLAINT: COMPLAINT}
nodes:
  BROADBAND: {INSTALLING: INSTALL, CALLBACK: FOLLOWUP}
  COMPLAINT: {REGISTERED: REGISTER, HANDLING: HANDLE, REPLYING: REPLY}
terminal_statuses: [CLOSED]
cancelling_statuses: [CANCELLED]
segments: {GOV: 政企, VIP: VIP, PUBLIC: 公众}
"""

COMPLETION_EVENTS = """\
case,activity,stamp,wg,level
C1,Assign seriousness,2026/03/10 00:00:00,W1,L1
C1,Take in charge ticket,2026/03/10 01:00:00,W1,L1
C1,Take in charge ticket,2026/03/10 02:00:00,W1,L2
C1,Resolve ticket,2026/03/10 03:00:00,W2,L2
C1,Closed,2026/03/10 04:00:00,W2,L2
C2,Assign seriousness,2026/03/10 00:00:00,W1,L1
C2,INVALID,2026/03/10 01:00:00,W1,L1
"""

COMPLETION_SOURCE = """\
name: completion_log
kind: file
path: "{data_dir}/completion.csv"
timestamp_format: "%Y/%m/%d %H:%M:%S"
time_zone: UTC
shape: status_history
timestamp_marks: completion
columns: {work_order_id: case, status: activity, event_at: stamp, department: wg, segment: level}
process: HELPDESK
nodes:
  HELPDESK:
    Assign seriousness: ASSIGN_SERIOUSNESS
    Take in charge ticket: TAKE_IN_CHARGE
    Resolve ticket: RESOLVE
    Closed: CLOSE
    INVALID: VERIFY
terminal_statuses: [Closed]
cancelling_statuses: [INVALID]
"""


@pytest.fixture(scope="module")
def runs(module_pipeline_env: Path) -> Iterator[pd.DataFrame]:
    root = module_pipeline_env
    (root / "entry.csv").write_text(ENTRY_EVENTS, encoding="utf-8")
    (root / "completion.csv").write_text(COMPLETION_EVENTS, encoding="utf-8")
    (root / "sources_config" / "entry.yaml").write_text(ENTRY_SOURCE, encoding="utf-8")
    (root / "sources_config" / "completion.yaml").write_text(COMPLETION_SOURCE, encoding="utf-8")
    run_pipeline(date(2026, 3, 10), date(2026, 3, 10))
    yield query(
        "select work_order_id, node_code, visit, department, segment, start_at, end_at, cancelled_at "
        "from {s}.fct_node_runs order by work_order_id, start_at, node_code"
    )


def _hours(ts: object) -> float | None:
    if pd.isna(ts):
        return None
    return (pd.Timestamp(ts) - pd.Timestamp("2026-03-10")).total_seconds() / 3600


def _table(runs: pd.DataFrame, order: str) -> list[tuple]:
    rows = runs[runs.work_order_id == order]
    return [
        (
            r.node_code,
            int(r.visit),
            r.department,
            r.segment,
            _hours(r.start_at),
            _hours(r.end_at),
            _hours(r.cancelled_at),
        )
        for r in rows.itertuples()
    ]


def test_entry_marked_collapse_handover_and_terminal(runs: pd.DataFrame) -> None:
    assert _table(runs, "E1") == [
        # two INSTALLING events of one team collapse; the segment is the opening event's
        ("INSTALL", 1, "装维一组", "VIP", 0, 2, None),
        # another team is a hand-over: a new run, and a new visit of the node
        ("INSTALL", 2, "装维二组", "公众", 2, 3, None),
        # CLOSED (terminal) ends the run and opens none
        ("FOLLOWUP", 1, "客服中心", "公众", 3, 4, None),
    ]


def test_entry_marked_cancellation_and_open_run(runs: pd.DataFrame) -> None:
    assert _table(runs, "E2") == [("INSTALL", 1, "装维一组", "公众", 0, None, 5)]
    assert _table(runs, "E3") == [
        ("INSTALL", 1, "装维一组", "公众", 0, 6, None),
        ("FOLLOWUP", 1, "客服中心", "公众", 6, None, None),  # unfinished work order: stays open
    ]


def test_entry_marked_rework_visits(runs: pd.DataFrame) -> None:
    assert [(n, v, s, e) for n, v, _, _, s, e, _ in _table(runs, "E4")] == [
        ("REGISTER", 1, 0, 1),
        ("HANDLE", 1, 1, 2),
        ("REPLY", 1, 2, 3),
        ("HANDLE", 2, 3, 4),
        ("REPLY", 2, 4, 5),
    ]


def test_completion_marked(runs: pd.DataFrame) -> None:
    assert _table(runs, "C1") == [
        # the first event only starts the clock; the two take-in-charge events collapse and the run
        # carries the segment of its closing event
        ("TAKE_IN_CHARGE", 1, "W1", "L2", 0, 2, None),
        ("RESOLVE", 1, "W2", "L2", 2, 3, None),
        ("CLOSE", 1, "W2", "L2", 3, 4, None),
    ]
    # a cancelling activity's run is cancelled at its timestamp, with no end
    assert _table(runs, "C2") == [("VERIFY", 1, "W1", "L1", 0, None, 1)]
