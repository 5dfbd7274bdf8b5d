"""Update-snapshot sources (an audit table: a row per save, the status often unchanged) load by configuration
(tests/fixtures/update_snapshots), on DuckDB and PostgreSQL: a save repeating the status is no status change,
a row key is composed from two columns, an exact re-delivery counts once (in one batch: quarantined as a
duplicate; in a later day's drop: staging keeps one), and events of one work order at one instant keep the
order the source delivered them in, also across two days' drops landed by two runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import deployed_instance, query, run_pipeline

pytestmark = pytest.mark.heavy  # two pipeline runs per warehouse: scheduled first (conftest.py)

FIXTURES = Path(__file__).parent / "fixtures" / "update_snapshots"

# Entry-marked: the status a save leaves the ticket in, from its time on. Daily drops of the day's saves.
SERVICEDESK = """\
name: servicedesk_audit
kind: file
path: "{data_dir}/servicedesk_audit_{date:%Y%m%d}.csv"
time_zone: Asia/Shanghai
shape: status_history
timestamp_marks: entry
update_snapshots: true
row_key_columns: [ticket_id, revision]
columns: {work_order_id: ticket_id, status: status, event_at: saved_at, department: team, segment: tier}
process: BROADBAND
nodes: {BROADBAND: {INSTALLING: INSTALL, CALLBACK: FOLLOWUP}}
terminal_statuses: [CLOSED]
cancelling_statuses: [CANCELLED]
segments: {VIP: VIP, PUBLIC: 公众}
quarantine_limit: 0.5   # the drops re-deliver rows on purpose
"""

# Completion-marked: each save names the last step completed. One export of the whole audit table.
HELPDESK_AUDIT = """\
name: helpdesk_audit
kind: file
path: "{data_dir}/helpdesk_audit.csv"
time_zone: Asia/Shanghai
shape: status_history
timestamp_marks: completion
update_snapshots: true
row_key_columns: [ticket, rev]
columns: {work_order_id: ticket, status: last_step, event_at: saved_at, department: wg}
process: HELPDESK
nodes:
  HELPDESK:
    Insert ticket: INSERT_TICKET
    Assign seriousness: ASSIGN_SERIOUSNESS
    Take in charge ticket: TAKE_IN_CHARGE
    Resolve ticket: RESOLVE
    Closed: CLOSE
terminal_statuses: [Closed]
quarantine_limit: 0.5
"""


@pytest.fixture(scope="module")
def audit(module_pipeline_env: Path) -> Iterator[None]:
    root = module_pipeline_env
    for path in FIXTURES.glob("*.csv"):
        shutil.copy(path, root / path.name)
    (root / "sources_config" / "servicedesk_audit.yaml").write_text(SERVICEDESK, encoding="utf-8")
    (root / "sources_config" / "helpdesk_audit.yaml").write_text(HELPDESK_AUDIT, encoding="utf-8")
    # Two runs, as the daily schedule would land them: the 10th (with the reference tables), then the daily
    # job for the 11th to the 14th.
    run_pipeline(date(2026, 3, 10), date(2026, 3, 10))
    # Imported once the declarations are written: orchestration.definitions builds its `defs` on import.
    from orchestration.definitions import build_defs
    from orchestration.runner import run_job

    with deployed_instance() as instance:
        run_job(build_defs(), "daily_job", instance, "2026-03-11", "2026-03-14")
    yield


def _local(ts: object) -> str | None:
    """A UTC instant of the warehouse as Shanghai wall-clock time, as the fixtures write it."""
    if pd.isna(ts):
        return None
    return pd.Timestamp(ts).tz_localize("UTC").tz_convert("Asia/Shanghai").strftime("%m-%d %H:%M")


def runs_of(source: str) -> dict[str, list[tuple]]:
    rows = query(
        "select work_order_id, node_code, visit, department, segment, start_at, end_at, cancelled_at "
        f"from {{s}}.fct_node_runs where source_system = '{source}' order by work_order_id, start_at, end_at"
    )
    out: dict[str, list[tuple]] = {}
    for r in rows.itertuples():
        out.setdefault(r.work_order_id, []).append(
            (r.node_code, int(r.visit), r.department, r.segment, _local(r.start_at), _local(r.end_at),
             _local(r.cancelled_at))
        )  # fmt: skip
    return out


def test_entry_marked_snapshots_collapse_into_runs(audit: None) -> None:
    runs = runs_of("servicedesk_audit")
    assert runs["T-1"] == [
        # saves 1-2 (the second also sent twice in the 10th's drop): one entry into INSTALLING
        ("INSTALL", 1, "装维一组", "VIP", "03-10 08:00", "03-11 09:00", None),
        # same status, another team: a hand-over; save 4 repeats it
        ("INSTALL", 2, "装维二组", "VIP", "03-11 09:00", "03-11 12:00", None),
        # CALLBACK saved twice (the first also again in the 12th's drop), then CLOSED twice: closed at the
        # first CLOSED save
        ("FOLLOWUP", 1, "客服中心", "VIP", "03-11 12:00", "03-14 13:00", None),
    ]
    # A cancellation saved twice cancels the run at the first.
    assert runs["T-4"] == [("INSTALL", 1, "装维一组", "公众", "03-13 08:00", None, "03-13 09:00")]


def test_events_at_one_minute_keep_delivery_order(audit: None) -> None:
    runs = runs_of("servicedesk_audit")
    # T-2: CALLBACK then INSTALLING again, both at 09:00, in that order in the file: the back-to-install save
    # is a status change (not a repeat of the first INSTALLING), and the callback took no time.
    assert runs["T-2"] == [
        ("INSTALL", 1, "装维一组", "公众", "03-10 08:00", "03-10 09:00", None),
        ("FOLLOWUP", 1, "客服中心", "公众", "03-10 09:00", "03-10 09:00", None),
        ("INSTALL", 2, "装维一组", "公众", "03-10 09:00", "03-11 10:00", None),
    ]
    # T-3: the hand-over at 23:59 came in the 10th's drop, the callback of the same minute in the 11th's
    # (first line of that file, landed by the next run): the earlier delivery comes first.
    assert runs["T-3"] == [
        ("INSTALL", 1, "装维一组", "公众", "03-10 22:00", "03-10 23:59", None),
        ("INSTALL", 2, "装维二组", "公众", "03-10 23:59", "03-10 23:59", None),
        ("FOLLOWUP", 1, "客服中心", "公众", "03-10 23:59", "03-12 09:00", None),
    ]


def test_completion_marked_snapshots_end_an_activity_at_its_first_save(audit: None) -> None:
    # A repeated step completes nothing: the step ended at its first save, and the time until the next
    # step's first save is that next step's, in the department of the save that completes it.
    assert runs_of("helpdesk_audit")["C-1"] == [
        ("ASSIGN_SERIOUSNESS", 1, "W1", None, "03-10 08:00", "03-13 09:00", None),
        ("TAKE_IN_CHARGE", 1, "W2", None, "03-13 09:00", "03-13 11:00", None),
        ("RESOLVE", 1, "W2", None, "03-13 11:00", "03-14 15:00", None),
        ("CLOSE", 1, "W2", None, "03-14 15:00", "03-14 17:00", None),
    ]


def test_states_of_the_collapsed_runs(audit: None) -> None:
    """Each run's state on the last day it is in scope: the day it ended or was cancelled."""
    states = query(
        "select work_order_id, node_code, visit, start_at, period_start_date, state from {s}.node_run_states_daily "
        "where work_order_id in ('T-1', 'T-4', 'C-1')"
    )
    states = (
        states.sort_values("period_start_date")
        .drop_duplicates(["work_order_id", "node_code", "visit"], keep="last")
        .sort_values(["work_order_id", "start_at"])[["work_order_id", "node_code", "visit", "state"]]
    )
    assert [tuple(r) for r in states.astype({"visit": int}).itertuples(index=False)] == [
        ("C-1", "ASSIGN_SERIOUSNESS", 1, "completed_warning"),  # 3d 1h > tolerance 3d
        ("C-1", "TAKE_IN_CHARGE", 1, "completed_normal"),
        ("C-1", "RESOLVE", 1, "completed_normal"),  # 1d 4h <= 5d
        ("C-1", "CLOSE", 1, "completed_normal"),
        ("T-1", "INSTALL", 1, "completed_acceptable"),  # 25h: VIP commitment 24h, tolerance 48h
        ("T-1", "INSTALL", 2, "completed_normal"),
        ("T-1", "FOLLOWUP", 1, "completed_warning"),  # 73h > tolerance 48h
        ("T-4", "INSTALL", 1, "cancelled"),
    ]


def test_re_deliveries_count_once_and_every_row_is_accounted_for(audit: None) -> None:
    landed = query(
        "select source_system, source_row_key, partition_date from {s}_landing.status_events "
        "where source_system = 'servicedesk_audit'"
    )
    # The composite key: ticket and revision. Save 5 of T-1 came in two days' drops: landed with each.
    assert (landed.source_row_key == "T-1|5").sum() == 2
    staged = query("select source_system, source_row_key from {s}_staging.stg_landing__status_events")
    assert not staged.duplicated().any()
    assert sorted(staged.source_row_key[staged.source_system == "servicedesk_audit"]) == sorted(
        ["T-1|1", "T-1|3", "T-1|5", "T-1|7", "T-2|1", "T-2|2", "T-2|3", "T-2|4",
         "T-3|1", "T-3|2", "T-3|3", "T-3|4", "T-4|1", "T-4|3"]
    )  # fmt: skip
    quarantine = query("select source_system, partition_date, reason_code, raw_record from {s}_landing.quarantine")
    assert sorted(zip(quarantine.source_system, quarantine.reason_code, strict=True)) == [
        ("helpdesk_audit", "duplicate_row"),
        ("servicedesk_audit", "duplicate_row"),
    ]
    log = query(
        "select source_system, sum(rows_received) as received, sum(rows_accepted) as accepted, "
        "sum(rows_quarantined) as quarantined from {s}_landing.extraction_log group by source_system"
    ).set_index("source_system")
    assert log.loc["servicedesk_audit"].tolist() == [22, 21, 1]
    assert log.loc["helpdesk_audit"].tolist() == [9, 8, 1]
