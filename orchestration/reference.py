"""Reference tables the models judge by: the process catalogue, the commitments and the business periods."""

from __future__ import annotations

from datetime import date

from orchestration.catalog import business_periods, load_catalogue, load_commitments
from orchestration.settings import pipeline_settings
from orchestration.warehouse import Warehouse

# Periods are generated up to this year; chinese-calendar-style limits come with business calendars.
PERIODS_UNTIL = date(2035, 12, 31)


def load_reference(warehouse: Warehouse) -> dict[str, int]:
    """Validate config/ and replace the reference landing tables. Raises before writing anything if
    a commitment is invalid, so the marts are never judged by a broken commitment file."""
    catalogue = load_catalogue()
    commitments = load_commitments(catalogue)
    periods = business_periods(pipeline_settings().history_start, PERIODS_UNTIL)
    warehouse.replace_table("processes", catalogue.processes)
    warehouse.replace_table("nodes", catalogue.nodes)
    warehouse.replace_table("commitments", commitments)
    warehouse.replace_table("business_periods", periods)
    return {
        "processes": len(catalogue.processes),
        "nodes": len(catalogue.nodes),
        "commitments": len(commitments),
        "business_periods": len(periods),
    }
