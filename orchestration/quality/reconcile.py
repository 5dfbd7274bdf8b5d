"""Counts that must add up, per source and day partition, read back from the warehouse: what the
extraction log says it received, accepted and quarantined, and what the landing and quarantine tables
really hold. Nothing lost: received = accepted + quarantined, and each table holds exactly its share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from orchestration.landing.tables import EXTRACTION_LOG, LANDING_BY_SHAPE, QUARANTINE
from orchestration.periods import Window
from orchestration.warehouse import Warehouse


def partition_counts(warehouse: Warehouse, source_system: str, shape: str, window: Window) -> pd.DataFrame:
    """One row per day partition of the window: the logged counts, the rows really landed and really
    quarantined, the quarantined share and whether it all reconciles."""
    where = window.partition_filter(source_system)
    landing = warehouse.landing_schema
    frame = warehouse.query(
        f"""
        with landed as (
            select partition_date, count(*) as n from {landing}.{LANDING_BY_SHAPE[shape].name} where {where}
            group by partition_date
        ),
        quarantined as (
            select partition_date, count(*) as n from {landing}.{QUARANTINE.name} where {where} group by partition_date
        )
        select log.partition_date, log.rows_received, log.rows_accepted, log.rows_quarantined,
            coalesce(landed.n, 0) as rows_landed, coalesce(quarantined.n, 0) as rows_in_quarantine
        from {landing}.{EXTRACTION_LOG.name} as log
        left join landed on landed.partition_date = log.partition_date
        left join quarantined on quarantined.partition_date = log.partition_date
        where {window.partition_filter(source_system, "log")}
        order by log.partition_date
        """
    )
    counts = ["rows_received", "rows_accepted", "rows_quarantined", "rows_landed", "rows_in_quarantine"]
    frame = frame.astype({c: "int64" for c in counts})
    frame["partition_date"] = pd.to_datetime(frame.partition_date).dt.date
    frame["quarantined_share"] = (frame.rows_quarantined / frame.rows_received.where(frame.rows_received > 0)).fillna(
        0.0
    )
    frame["reconciled"] = (
        (frame.rows_received == frame.rows_accepted + frame.rows_quarantined)
        & (frame.rows_landed == frame.rows_accepted)
        & (frame.rows_in_quarantine == frame.rows_quarantined)
    )
    return frame


def quarantine_reasons(warehouse: Warehouse, source_system: str, window: Window) -> pd.DataFrame:
    """partition_date, reason_code, rows: the quarantined rows of the window by reason."""
    frame = warehouse.query(
        f"select partition_date, reason_code, count(*) as n_rows from {warehouse.landing_schema}.{QUARANTINE.name} "
        f"where {window.partition_filter(source_system)} "
        "group by partition_date, reason_code order by partition_date, reason_code"
    )
    frame["partition_date"] = pd.to_datetime(frame.partition_date).dt.date
    return frame.astype({"n_rows": "int64"}).rename(columns={"n_rows": "rows"})


def missing_partitions(counts: pd.DataFrame, days: Sequence[date]) -> list[date]:
    """Days of the window the extraction log has no entry for (a landing that never happened)."""
    return sorted(set(days) - set(counts.partition_date))
