"""The main job: generate the demo source systems, materialise the recent periods and print a summary.

    python -m demo.main            # DuckDB in ./data (default)
    WAREHOUSE_TARGET=postgres PGHOST=... python -m demo.main

Runs are recorded in the Dagster instance under DAGSTER_HOME (default ./.dagster_home), so
`dagster dev` shows them afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from orchestration.settings import PROJECT_DIR, Settings
from orchestration.warehouse import Warehouse

SUMMARY_STATES = [
    "completed_normal", "completed_acceptable", "completed_warning",
    "in_progress_normal", "in_progress_acceptable", "in_progress_warning", "cancelled", "no_commitment",
]  # fmt: skip


def prepare_demo_sources(days: int, orders_per_day: int, now: datetime, seed: int = 7) -> dict[str, int]:
    """Write the three demo systems into the data dir and point the source connections at them."""
    from demo.generator import generate_truth, write_sources

    start = (now - timedelta(days=days + 1)).date()
    truth = generate_truth(start, now, orders_per_day, seed=seed)
    counts = write_sources(truth, Settings.load().data_dir, now, start=start)
    if not os.environ.get("OA_DB_URL"):
        os.environ["OA_DB_URL"] = f"sqlite:///{Settings.load().data_dir / 'sources' / 'oa_workflow.sqlite'}"
    return counts


def start_ticket_api() -> object:
    """Serve the demo ticket API on a free loopback port unless TICKET_API_URL points elsewhere."""
    from demo.ticket_api_server import serve_in_background

    if os.environ.get("TICKET_API_URL"):
        return None
    server, url = serve_in_background(Settings.load().data_dir / "sources" / "ticket_events.jsonl")
    os.environ["TICKET_API_URL"] = url
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
    lines.extend(business_clocks(warehouse, schema))
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
    parser = argparse.ArgumentParser(description="Generate the demo sources and materialise recent periods.")
    parser.add_argument("--days", type=int, default=62, help="closed days to materialise (default 62)")
    parser.add_argument("--orders-per-day", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    # Importing the definitions validates the configuration and warehouse settings: before any source is generated.
    from orchestration.definitions import build_defs
    from orchestration.periods import PeriodRange
    from orchestration.runner import run_periods

    now = datetime.now(UTC).replace(microsecond=0)
    began = time.perf_counter()
    counts = prepare_demo_sources(args.days, args.orders_per_day, now, args.seed)
    print(f"demo sources in {Settings.load().data_dir}: " + ", ".join(f"{k} {v:,} rows" for k, v in counts.items()))
    server = start_ticket_api()
    try:
        periods = PeriodRange.closed_days_until(now, args.days, Settings.load().business_time_zone)
        warehouse = Warehouse.from_settings(Settings.load())
        print(f"materialising {periods.first}...{periods.last} on {warehouse.target}")
        for step in run_periods(build_defs(), dagster_instance(), periods):
            print(f"  done: {step}")
    finally:
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
    print(summary(warehouse.schema_name))
    from orchestration.quality.summary import overview

    print("\n" + overview(warehouse))
    print(f"\nfinished in {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    from orchestration.errors import exit_on_config_error

    with exit_on_config_error():
        main()
