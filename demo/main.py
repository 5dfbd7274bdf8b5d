"""The main job's parts: generate the demo source systems, serve the ticket API, print a summary. The
command that runs them with the jobs in between is `commitments demo` (commitments_cli/app.py):

    commitments demo            # DuckDB in ./data (default); `make demo`, `python -m demo.main` alike
    WAREHOUSE_TARGET=postgres PGHOST=... commitments demo

Runs are recorded in the Dagster instance under DAGSTER_HOME (default ./.dagster_home), so
`dagster dev` shows them afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from orchestration.periods import PeriodRange
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse import Warehouse

SUMMARY_STATES = [
    "completed_normal", "completed_acceptable", "completed_warning",
    "in_progress_normal", "in_progress_acceptable", "in_progress_warning", "cancelled", "no_commitment",
]  # fmt: skip


def prepare_demo_sources(days: int, orders_per_day: int, now: datetime, seed: int = 7) -> dict[str, int]:
    """Write the three demo systems into the data dir and point the source connections at them."""
    counts = write_demo_sources(days, orders_per_day, now, seed)
    point_at_demo_sources()
    return counts


def write_demo_sources(days: int, orders_per_day: int, now: datetime, seed: int = 7) -> dict[str, int]:
    """Write the three demo systems into the data dir; the rows written per system."""
    from demo.generator import generate_truth, write_sources

    start = (now - timedelta(days=days + 1)).date()
    truth = generate_truth(start, now, orders_per_day, seed=seed)
    return write_sources(truth, Settings.load().data_dir, now, start=start)


def point_at_demo_sources() -> None:
    """The OA system's connection, unless OA_DB_URL names another (the file systems and the ticket API are
    found through the data dir and start_ticket_api)."""
    if not os.environ.get("OA_DB_URL"):
        os.environ["OA_DB_URL"] = f"sqlite:///{Settings.load().data_dir / 'sources' / 'oa_workflow.sqlite'}"


def start_ticket_api() -> object:
    """Serve the demo ticket API on a free loopback port, in a process of its own as a real source system
    would be, unless TICKET_API_URL points elsewhere. The returned object's shutdown() stops it."""
    from demo.ticket_api_server import serve_in_subprocess

    if os.environ.get("TICKET_API_URL"):
        return None
    server = serve_in_subprocess(Settings.load().data_dir / "sources" / "ticket_events.jsonl")
    os.environ["TICKET_API_URL"] = server.url
    return server


def dagster_instance():
    """The instance under DAGSTER_HOME (default ./.dagster_home), set up from deploy/dagster.yaml."""
    from dagster import DagsterInstance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_DIR / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(PROJECT_DIR / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return DagsterInstance.get()


def summary(schema: str) -> str:
    warehouse = Warehouse.from_settings(Settings.load())
    lines = []
    for grain in ("monthly", "weekly"):
        if not warehouse.table_exists(schema, f"achievement_rates_{grain}"):
            continue
        rates = warehouse.query(
            f"select * from {schema}.achievement_rates_{grain} where grouping_level = 'process' and period_id = "
            f"(select max(period_id) from {schema}.achievement_rates_{grain}) order by process_code"
        )
        if rates.empty:
            continue
        lines.append(f"\n{grain} results for {rates.period_id.iloc[0]} (as of {rates.as_of.iloc[0]} UTC)")
        table = rates[["process_code", *SUMMARY_STATES, "total_runs"]].copy()
        table["achievement"] = rates.achievement_rate.map(lambda v: "-" if pd.isna(v) else f"{v:.1%}")
        table["flag"] = [
            "raise_commitment" if r else ("improve_process" if i else "")
            for r, i in zip(rates.raise_commitment, rates.improve_process, strict=True)
        ]
        table.columns = [c.replace("completed_", "done_").replace("in_progress_", "open_") for c in table.columns]
        lines.append(table.to_string(index=False))
    if warehouse.table_exists(schema, "achievement_rates_monthly"):
        lines.extend(flagged_nodes(warehouse, schema))
    if warehouse.table_exists(schema, "process_bottlenecks_monthly"):
        lines.extend(bottlenecks_and_proposals(warehouse, schema))
    lines.extend(business_clocks(warehouse, schema))
    return "\n".join(lines)


def where_to_look(data_dir: Path, periods: PeriodRange) -> str:
    """How to open the dashboard, and where the reports of the last month judged are."""
    lines = ["dashboard: run `make dashboard` (or `commitments dashboard`), then open http://127.0.0.1:8050/ "
             "(中文; English: http://127.0.0.1:8050/?lang=en)"]  # fmt: skip
    if periods.months:
        month = data_dir / "reports" / periods.months[1].strftime("%Y-%m")
        reports = sorted(month.glob("*.html"))
        lines.append(f"monthly department reports ({len(reports)}): {month}/ (open any .html in a browser, "
                     f"or http://127.0.0.1:8050/reports/{month.name}/<department>.html)")  # fmt: skip
    return "\n".join(lines)


def flagged_nodes(warehouse: Warehouse, schema: str) -> list[str]:
    lines = []
    nodes = warehouse.query(
        f"select process_code, node_code, achievement_rate, raise_commitment, improve_process "
        f"from {schema}.achievement_rates_monthly where grouping_level = 'process_node' "
        f"and (raise_commitment or improve_process) and period_id = "
        f"(select max(period_id) from {schema}.achievement_rates_monthly) order by achievement_rate desc"
    )
    if not nodes.empty:
        lines.append("\nflagged nodes, last month")
        for r in nodes.itertuples():
            flag = "raise_commitment" if r.raise_commitment else "improve_process"
            lines.append(f"  {r.process_code:<13} {r.node_code:<12} {r.achievement_rate:6.1%}  {flag}")
    return lines


def bottlenecks_and_proposals(warehouse: Warehouse, schema: str) -> list[str]:
    """For the last complete month (docs/CALIBRATION.md): each process's top bottleneck node, and each
    flagged node and segment's proposed limits beside its current ones."""
    from orchestration.config_files import format_duration

    month = f"(select max(period_id) from {schema}.process_bottlenecks_monthly where as_of = period_end)"
    top = warehouse.query(
        f"select process_code, node_code, excess_share, warning_order_share, rework_share, achievement_rate, trend "
        f"from {schema}.process_bottlenecks_monthly where grouping_level = 'process_node' and bottleneck_rank = 1 "
        f"and period_id = {month} order by process_code"
    )
    if top.empty:
        return []
    lines = ["\ntop bottleneck per process, last complete month (docs/CALIBRATION.md)"]
    pct = lambda v: "-" if pd.isna(v) else f"{v:.0%}"  # noqa: E731
    for r in top.itertuples():
        lines.append(
            f"  {r.process_code:<13} {r.node_code:<12} excess {pct(r.excess_share):>4} of the process's, "
            f"in {pct(r.warning_order_share):>4} of e2e warnings, rework {pct(r.rework_share):>4}, "
            f"rate {pct(r.achievement_rate):>4} ({r.trend or 'no trend yet'})"
        )
    proposals = warehouse.query(
        f"select * from {schema}.commitment_calibration_monthly where flag is not null and period_id = "
        f"(select max(period_id) from {schema}.commitment_calibration_monthly where as_of = period_end) "
        f"order by process_code, node_code, segment"
    )
    if not proposals.empty:
        lines.append("\nflagged nodes: proposed limits (commitment / tolerance) beside the current ones")
        for r in proposals.itertuples():
            day = int(r.clock_day_seconds)
            now = f"{format_duration(r.commitment_seconds, day)} / {format_duration(r.tolerance_seconds, day)}"
            if pd.isna(r.proposed_commitment_seconds):
                proposed = r.proposal_reason
            else:
                proposed = (
                    f"{format_duration(r.proposed_commitment_seconds, day)} / "
                    f"{format_duration(r.proposed_tolerance_seconds, day)} ({r.direction})"
                )
            lines.append(
                f"  {r.process_code:<13} {r.node_code:<12} {r.segment:<6} {r.flag:<16} rate "
                f"{r.achievement_rate:6.1%}  now {now:<13} proposed {proposed}"
            )
    return lines


def business_clocks(warehouse: Warehouse, schema: str) -> list[str]:
    """How much a business calendar takes off the wall clock, in the latest month (else week)."""
    lines = []
    for grain in ("monthly", "weekly"):
        states = f"{schema}.node_run_states_{grain}"
        if not warehouse.table_exists(schema, f"node_run_states_{grain}"):
            continue
        clocks = warehouse.query(
            f"select process_code, node_code, clock, avg(wall_seconds) / 3600 as wall_hours, "
            f"avg(run_seconds) / 3600 as clock_hours, count(*) as runs from {states} "
            f"where clock <> 'wall' and run_status = 'completed' and period_id = (select max(period_id) from {states}) "
            f"group by process_code, node_code, clock order by process_code, node_code"
        )
        if clocks.empty:
            continue
        lines.append(f"\nbusiness clocks, {grain}: mean hours of the completed runs, wall clock -> working time")
        for r in clocks.itertuples():
            lines.append(
                f"  {r.process_code:<13} {r.node_code:<12} {r.clock:<10} {r.wall_hours:6.1f} h -> "
                f"{r.clock_hours:5.1f} h  ({r.runs} runs)"
            )
        break
    return lines


def main(argv: list[str] | None = None) -> None:
    """`python -m demo.main [options]` is `commitments demo [options]` (commitments_cli/app.py). Called with
    `argv`, it returns when the command succeeds and raises SystemExit with its exit code when it does not."""
    from commitments_cli.app import app

    if argv is None:
        app(["demo", *sys.argv[1:]], prog_name="commitments")
    code = app(["demo", *argv], prog_name="commitments", standalone_mode=False)
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    main()
