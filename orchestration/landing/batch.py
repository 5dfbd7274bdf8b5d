"""A source's batch for a window: read and normalised (`extract`), then landed in place of the window's
previous load (`land`), with its counts in the extraction log."""

from __future__ import annotations

import pandas as pd

from orchestration.landing.normalise import Extract, normalise
from orchestration.landing.tables import EXTRACTION_LOG, LANDING_BY_SHAPE, LANDING_TABLES, MONITORING_TABLES, QUARANTINE
from orchestration.periods import Window
from orchestration.reference.catalogue import Catalogue
from orchestration.sources.config import SourceConfig
from orchestration.sources.read import read
from orchestration.warehouse import Warehouse


def ensure_landing(warehouse: Warehouse) -> None:
    """Create the landing tables (and the live evaluation's) that do not exist yet."""
    warehouse.ensure_tables(warehouse.landing_schema, (*LANDING_TABLES, *MONITORING_TABLES))


def extract(cfg: SourceConfig, window: Window, catalogue: Catalogue) -> Extract:
    return normalise(cfg, read(cfg, window), window, catalogue)


def land(warehouse: Warehouse, result: Extract, window: Window) -> pd.DataFrame:
    """Replace the window's partitions of this source in landing, quarantine and the extraction log, in one
    transaction (a killed run leaves the previous load whole). Returns the per-partition counts written to the log."""
    accepted = result.rows.groupby("partition_date").size()
    quarantined = result.quarantine.groupby("partition_date").size()
    index = pd.DatetimeIndex(pd.to_datetime(window.days), name="partition_date").astype("datetime64[us]")
    counts = pd.DataFrame(
        {
            "accepted": accepted.reindex(index, fill_value=0),
            "quarantined": quarantined.reindex(index, fill_value=0),
        }
    ).reset_index()
    log = pd.DataFrame(
        {
            "source_system": result.source_system,
            "partition_date": counts.partition_date,
            "extracted_at": pd.Timestamp.now("UTC").tz_localize(None),
            "rows_received": counts.accepted + counts.quarantined,
            "rows_accepted": counts.accepted,
            "rows_quarantined": counts.quarantined,
        }
    )[EXTRACTION_LOG.column_names]
    tables = {LANDING_BY_SHAPE[result.shape].name: result.rows, QUARANTINE.name: result.quarantine}
    warehouse.replace_partitions(window.partition_filter(result.source_system), {**tables, EXTRACTION_LOG.name: log})
    return log
