"""Extract one source system for a window and land it: read (per kind) -> normalise -> replace partitions."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from orchestration.catalog import Catalogue
from orchestration.sources.config import SourceConfig
from orchestration.sources.file import read_file
from orchestration.sources.http import read_http
from orchestration.sources.normalise import Extract, normalise
from orchestration.sources.sql import read_sql
from orchestration.sources.window import Window
from orchestration.warehouse import Warehouse

READERS: dict[str, Callable[[SourceConfig, Window], pd.DataFrame]] = {
    "sql": read_sql,
    "file": read_file,
    "http": read_http,
}
LANDING_TABLE = {"intervals": "interval_runs", "status_history": "status_events"}


def extract(cfg: SourceConfig, window: Window, catalogue: Catalogue) -> Extract:
    return normalise(cfg, READERS[cfg.kind](cfg, window), window, catalogue)


def land(warehouse: Warehouse, result: Extract, window: Window) -> pd.DataFrame:
    """Replace the window's partitions of this source in landing, quarantine and the extraction log.
    Returns the per-partition counts written to the log."""
    days = window.days
    warehouse.replace_partitions(LANDING_TABLE[result.shape], result.source_system, days, result.rows)
    warehouse.replace_partitions("quarantine", result.source_system, days, result.quarantine)
    accepted = result.rows.groupby("partition_date").size()
    quarantined = result.quarantine.groupby("partition_date").size()
    index = pd.DatetimeIndex(pd.to_datetime(days), name="partition_date").astype("datetime64[us]")
    log = pd.DataFrame(
        {
            "accepted": accepted.reindex(index, fill_value=0),
            "quarantined": quarantined.reindex(index, fill_value=0),
        }
    ).reset_index()
    log = pd.DataFrame(
        {
            "source_system": result.source_system,
            "partition_date": log.partition_date,
            "extracted_at": pd.Timestamp.now("UTC").tz_localize(None),
            "rows_received": log.accepted + log.quarantined,
            "rows_accepted": log.accepted,
            "rows_quarantined": log.quarantined,
        }
    )
    warehouse.replace_partitions("extraction_log", result.source_system, days, log)
    return log
