"""Publish the reference tables the models judge by: the process catalogue, the commitments, the business
calendars (with their cumulative working-time table) and the business periods."""

from __future__ import annotations

from datetime import date

import pandas as pd

from orchestration.periods import business_periods
from orchestration.reference.calendars import (
    CalendarVersion,
    calendar_days_table,
    calendar_versions_table,
    load_calendars,
)
from orchestration.reference.catalogue import Catalogue, load_catalogue
from orchestration.reference.commitments import load_commitments
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse

# Periods are generated up to this date; each business calendar declares its own coverage.
PERIODS_UNTIL = date(2035, 12, 31)
REFERENCE_TABLES = ("processes", "nodes", "commitments", "calendar_versions", "calendar_days", "business_periods")


def check_reference(settings: Settings) -> None:
    """Validate the catalogue, calendars and commitments (tens of milliseconds), as the definitions load:
    a broken file stops every command at once with its message, not the reference job days later."""
    _validated(settings)


def _validated(settings: Settings) -> tuple[Catalogue, dict[str, list[CalendarVersion]], pd.DataFrame]:
    """The catalogue, the calendars and the commitments, each validated against the ones before it."""
    catalogue = load_catalogue(settings.processes_file)
    calendars = load_calendars(settings.history_start, settings.calendars_file)
    commitments = load_commitments(settings.commitments_file, catalogue, calendars, settings.business_time_zone)
    return catalogue, calendars, commitments


def reference_frames(settings: Settings) -> dict[str, pd.DataFrame]:
    """Every reference table, validated from the configuration: raises, naming the entry, on anything invalid."""
    first = settings.history_start
    catalogue, calendars, commitments = _validated(settings)
    return {
        "processes": catalogue.processes,
        "nodes": catalogue.nodes,
        "commitments": commitments,
        "calendar_versions": calendar_versions_table(calendars),
        "calendar_days": calendar_days_table(calendars, first),
        "business_periods": business_periods(first, PERIODS_UNTIL, settings.business_time_zone),
    }


def load_reference(warehouse: Warehouse, settings: Settings) -> dict[str, int]:
    """Validate the configuration and replace the reference landing tables. Everything is validated before
    anything is written, so the marts are never judged by a broken commitment file; the tables are replaced
    in one transaction, so a killed run leaves the previous reference whole."""
    frames = reference_frames(settings)
    warehouse.replace_tables({table: frames[table] for table in REFERENCE_TABLES})
    return {table: len(frame) for table, frame in frames.items()}
