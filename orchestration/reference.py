"""Reference tables the models judge by: the process catalogue, the commitments, the business calendars
(with their cumulative working-time table) and the business periods."""

from __future__ import annotations

from datetime import date

from orchestration.calendars import calendar_days_table, calendar_versions_table, load_calendars
from orchestration.catalog import business_periods, load_catalogue, load_commitments
from orchestration.settings import pipeline_settings
from orchestration.warehouse import Warehouse

# Periods are generated up to this date; each business calendar declares its own coverage.
PERIODS_UNTIL = date(2035, 12, 31)


def load_reference(warehouse: Warehouse) -> dict[str, int]:
    """Validate config/ and replace the reference landing tables. Raises before writing anything if
    a commitment is invalid, so the marts are never judged by a broken commitment file."""
    first = pipeline_settings().history_start
    catalogue = load_catalogue()
    calendars = load_calendars(first)
    commitments = load_commitments(catalogue, calendars=calendars)
    calendar_versions = calendar_versions_table(calendars)
    calendar_days = calendar_days_table(calendars, first)
    periods = business_periods(first, PERIODS_UNTIL)
    warehouse.replace_table("processes", catalogue.processes)
    warehouse.replace_table("nodes", catalogue.nodes)
    warehouse.replace_table("commitments", commitments)
    warehouse.replace_table("calendar_versions", calendar_versions)
    warehouse.replace_table("calendar_days", calendar_days)
    warehouse.replace_table("business_periods", periods)
    return {
        "processes": len(catalogue.processes),
        "nodes": len(catalogue.nodes),
        "commitments": len(commitments),
        "calendar_versions": len(calendar_versions),
        "calendar_days": len(calendar_days),
        "business_periods": len(periods),
    }
