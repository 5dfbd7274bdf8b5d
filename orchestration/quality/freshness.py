"""Source freshness: has the source system delivered anything recently, as of the end of the run's window?

A feed that stopped (a file drop that no longer arrives, an API returning empty pages) lands no rows and
quarantines none, so every other check passes while the marts quietly report no work for its departments.
This check measures the age of the newest instant the source delivered (a run's start, end or
cancellation, or a status event) at the reference instant: the end of the run's last day partition, or
now while that day is still open. Measuring against the window, not against the wall clock as
`dbt source freshness` does, keeps a backfill of a past period as fresh as the timely run was.

Thresholds follow dbt's vocabulary, `warn_after` and `error_after` (config/pipeline.yaml, overridden per
source by `freshness:`); above `error_after` the check fails with ERROR severity and blocks downstream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity

from orchestration.landing.tables import LANDING_BY_SHAPE
from orchestration.periods import Window
from orchestration.sources.config import SourceConfig
from orchestration.warehouse import Warehouse

SOURCE_FRESHNESS = "source_freshness"

# The newest instant of a row before the reference instant {r}: its end (or cancellation) when that had
# happened before then, else its start. A delivery at exactly {r} belongs to the next partition.
_NEWEST = {
    "intervals": "case when coalesce(end_at, cancelled_at) < {r} then coalesce(end_at, cancelled_at) "
    "when start_at < {r} then start_at end",
    "status_history": "case when event_at < {r} then event_at end",
}


@dataclass(frozen=True)
class Freshness:
    reference: datetime  # naive UTC, like the landing tables
    newest: datetime | None  # None: nothing delivered within the lookback
    lookback_days: int

    @property
    def age_seconds(self) -> float:
        return math.inf if self.newest is None else max(0.0, (self.reference - self.newest).total_seconds())


def reference_instant(window_end: datetime, now: datetime | None = None) -> datetime:
    """The end of the window, or now while the window is still open; naive UTC."""
    now = now or datetime.now(UTC)
    return min(window_end.astimezone(UTC), now.astimezone(UTC)).replace(tzinfo=None)


def measure(warehouse: Warehouse, cfg: SourceConfig, last_day: date, reference: datetime) -> Freshness:
    """The newest instant landed for the source in the partitions up to `last_day`, looking back only as
    far as the error threshold reaches (older deliveries are stale either way), so a daily run's cost does
    not grow with the length of history."""
    lookback = math.ceil(cfg.effective_freshness[1] / 86400) + 1
    r = f"cast('{reference:%Y-%m-%d %H:%M:%S}' as timestamp)"
    frame = warehouse.query(
        f"select max({_NEWEST[cfg.shape].format(r=r)}) as newest "
        f"from {warehouse.landing_schema}.{LANDING_BY_SHAPE[cfg.shape].name} "
        f"where source_system = '{cfg.name}' and partition_date <= '{last_day}' "
        f"and partition_date >= '{last_day - timedelta(days=lookback)}'"
    )
    newest = frame.newest.iloc[0] if len(frame) else None
    if pd.isna(newest):
        return Freshness(reference, None, lookback)
    return Freshness(reference, pd.Timestamp(newest).to_pydatetime().replace(tzinfo=None), lookback)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def check_result(cfg: SourceConfig, freshness: Freshness) -> AssetCheckResult:
    warn_after, error_after = cfg.effective_freshness
    age = freshness.age_seconds
    stale_error, stale_warn = age > error_after, age > warn_after
    if freshness.newest is None:
        what = f"nothing delivered in the {freshness.lookback_days} days up to {freshness.reference:%Y-%m-%d %H:%M} UTC"
    else:
        what = f"newest delivery {freshness.newest:%Y-%m-%d %H:%M} UTC, {_hours(age)} before the window's end"
    limit = error_after if stale_error else warn_after
    return AssetCheckResult(
        check_name=SOURCE_FRESHNESS,
        passed=not stale_warn,
        severity=AssetCheckSeverity.ERROR if stale_error else AssetCheckSeverity.WARN,
        description=f"{what}; stale after {_hours(limit)}" if stale_warn else what,
        metadata={
            "reference_instant_utc": f"{freshness.reference:%Y-%m-%d %H:%M:%S}",
            "newest_delivery_utc": f"{freshness.newest:%Y-%m-%d %H:%M:%S}" if freshness.newest else "none",
            "age_hours": None if math.isinf(age) else round(age / 3600, 2),
            "warn_after_hours": round(warn_after / 3600, 2),
            "error_after_hours": round(error_after / 3600, 2),
        },
    )


def evaluate_freshness(warehouse: Warehouse, cfg: SourceConfig, window: Window) -> AssetCheckResult:
    return check_result(cfg, measure(warehouse, cfg, window.last_day, reference_instant(window.end)))
