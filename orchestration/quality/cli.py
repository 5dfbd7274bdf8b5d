"""The operator's command for quarantined rows:

    commitments quality list --source settlement_files --partition 2026-10-05
    commitments quality reprocess --source settlement_files --partition 2026-10-05

(`python -m orchestration.quality list|reprocess ...` does the same.)

`list` prints the partition's summary and its quarantined rows (reason, detail, the row as received).
`reprocess` extracts the partition again from the (fixed) source and lands it in place of the old
load: accepted rows are replaced, never appended, so rows accepted before are not duplicated; the
checks are evaluated again and the summary rewritten. A partition its own checks blocked is held (later
runs refuse to build on it, orchestration/quality/held.py) until a reprocess passes. Rebuild the marts
afterwards (daily_job, and the week's and month's runs if they ran).
"""

from __future__ import annotations

import argparse
from datetime import date

import pandas as pd

from orchestration.landing.batch import ensure_landing
from orchestration.landing.tables import QUARANTINE
from orchestration.periods import Window
from orchestration.quality.gate import extract_and_check
from orchestration.quality.summary import summary_markdown
from orchestration.reference.catalogue import load_catalogue
from orchestration.settings import Settings
from orchestration.sources.config import SourceConfig, load_sources
from orchestration.warehouse import Warehouse


def source_config(settings: Settings, name: str) -> SourceConfig:
    by_name = {cfg.name: cfg for cfg in load_sources(settings)}
    if name not in by_name:
        raise SystemExit(f"unknown source {name!r}; declared: {sorted(by_name)}")
    return by_name[name]


def quarantined_rows(warehouse: Warehouse, source: str, day: date) -> pd.DataFrame:
    return warehouse.query(
        f"select reason_code, reason_detail, raw_record from {warehouse.landing_schema}.{QUARANTINE.name} "
        f"where source_system = '{source}' and partition_date = '{day}' order by reason_code"
    )


def reprocess(warehouse: Warehouse, settings: Settings, source: str, day: date) -> pd.DataFrame:
    """Re-extract and re-land one partition; returns its new summary row(s)."""
    window = Window.for_days(day, day, settings.business_time_zone)
    cfg = source_config(settings, source)
    return extract_and_check(warehouse, cfg, window, load_catalogue(settings.processes_file)).summary


def list_report(warehouse: Warehouse, source: str, day: date) -> str:
    """A partition's quarantined rows: reason, detail, the row as received."""
    rows = quarantined_rows(warehouse, source, day)
    with pd.option_context("display.max_colwidth", 200, "display.width", 200):
        table = rows.to_string(index=False) if len(rows) else "(none)"
    return f"{len(rows)} quarantined rows of {source} on {day}\n{table}"


def reprocess_report(warehouse: Warehouse, settings: Settings, source: str, day: date) -> str:
    """Re-land a partition; what it had quarantined before and its new summary."""
    before = len(quarantined_rows(warehouse, source, day))
    summary = reprocess(warehouse, settings, source, day)
    return f"reprocessed {source} {day}: {before} quarantined before\n{summary_markdown(summary)}"


def main(argv: list[str] | None = None) -> None:
    """`python -m orchestration.quality`; the operator's entry point is `commitments quality` (commitments_cli)."""
    parser = argparse.ArgumentParser(prog="python -m orchestration.quality", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["list", "reprocess"])
    parser.add_argument("--source", required=True)
    parser.add_argument("--partition", required=True, type=date.fromisoformat, help="business day, YYYY-MM-DD")
    args = parser.parse_args(argv)
    settings = Settings.load()
    warehouse = Warehouse.from_settings(settings)
    source_config(settings, args.source)
    ensure_landing(warehouse)
    if args.command == "reprocess":
        print(reprocess_report(warehouse, settings, args.source, args.partition))
    else:
        print(list_report(warehouse, args.source, args.partition))


if __name__ == "__main__":
    from orchestration.errors import exit_on_config_error

    with exit_on_config_error():
        main()
