"""Volume: did a day partition receive about as many rows as the source's recent days?

A drop that is only a header, or cut short, replaces the day's landed rows with none or few; no row is
bad, so nothing is quarantined, every other check passes, and the marts report a quiet day. This check
compares each partition's rows received with the median of the source's previous `lookback_days` days
in the extraction log (days with no log entry are left out; at least `min_history_days` of them are
needed to judge). Below `warn_below` of that median the check warns; a partition with no rows at all
is `on_empty`: a warning, or an error that blocks it and everything downstream until it is reprocessed.
Settings: `volume:` in config/pipeline.yaml, overridden per source (or `volume: off`).
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from orchestration.landing.tables import EXTRACTION_LOG
from orchestration.periods import Window
from orchestration.sources.config import SourceConfig
from orchestration.warehouse import Warehouse

VOLUME = "volume"


def judge_volume(warehouse: Warehouse, cfg: SourceConfig, window: Window) -> pd.DataFrame:
    """Per partition of the window: rows received, the median of the previous days (NaN: too little
    history), and whether the partition is low and whether that blocks it."""
    v = cfg.effective_volume
    first = window.first_day - timedelta(days=v.lookback_days)
    log = warehouse.query(
        f"select partition_date, rows_received from {warehouse.landing_schema}.{EXTRACTION_LOG.name} "
        f"where source_system = '{cfg.name}' and partition_date >= '{first}' and partition_date <= '{window.last_day}'"
    )
    days = pd.date_range(first, window.last_day, freq="D")
    received = (
        pd.Series(log.rows_received.astype("float64").to_numpy(), index=pd.to_datetime(log.partition_date))
        .reindex(days)
    )  # fmt: skip
    # Only the previous days make the baseline: a day is never compared with itself.
    median = received.shift(1).rolling(v.lookback_days, min_periods=v.min_history_days).median()
    frame = pd.DataFrame({"rows_received": received, "recent_median": median}).loc[pd.to_datetime(window.days)]
    frame = frame[frame.rows_received.notna()]  # a partition without a log entry is rows_reconcile's fault
    assert v.warn_below is not None
    low = frame.recent_median.gt(0) & (frame.rows_received < v.warn_below * frame.recent_median)
    return frame.assign(
        partition_date=frame.index.date,
        low=low,
        blocking=low & (frame.rows_received == 0) & (v.on_empty == "error"),
    ).reset_index(drop=True)


def volume_check(cfg: SourceConfig, judged: pd.DataFrame) -> AssetCheckResult:
    v = cfg.effective_volume
    low = judged[judged.low]
    empty = low[low.rows_received == 0]
    shown = low.head(20).assign(
        rows_received=low.rows_received.astype("int64"), recent_median=low.recent_median.round(1)
    )[["partition_date", "rows_received", "recent_median"]]
    what = ", ".join(
        f"{r.partition_date} received {int(r.rows_received)} rows (recent median {r.recent_median:g})"
        for r in shown.itertuples()
    )
    return AssetCheckResult(
        check_name=VOLUME,
        passed=low.empty,
        severity=AssetCheckSeverity.ERROR if judged.blocking.any() else AssetCheckSeverity.WARN,
        description=(
            f"{len(low)} partition(s) below {v.warn_below:.0%} of the median of the previous "
            f"{v.lookback_days} days ({len(empty)} with no rows): {what}"
            if len(low)
            else f"every judged partition within {v.warn_below:.0%} of its recent median"
        ),
        metadata={
            "warn_below": v.warn_below,
            "lookback_days": v.lookback_days,
            "on_empty": v.on_empty,
            "partitions_judged": int(judged.recent_median.notna().sum()),
            "partitions_low": len(low),
            "partitions_empty": len(empty),
            "low": MetadataValue.json(shown.astype({"partition_date": str}).to_dict("records")),
        },
    )
