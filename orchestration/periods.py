"""Time, in one place: the business-zone partitions, the window of a run, ranges of periods, and the
table of business periods the marts are judged per.

Every period is half-open, [start, end), with its bounds drawn in the business time zone (SEMANTICS.md
"Periods"). A run's `Window` is a range of whole day partitions; whatever needs the window's bounds
(UTC instants for the sources, business dates for the landing partitions and dbt, the SQL filter of a
source's partitions) asks the window, so there is one definition of each.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from dagster import DailyPartitionsDefinition, MonthlyPartitionsDefinition, WeeklyPartitionsDefinition

from orchestration.settings import Settings


def utc_now() -> datetime:
    """The wall clock a run's evaluation is capped at (as_of = min(period end, now)); tests pin it here."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Partitions:
    """Day, ISO-week (Monday first) and month partitions, drawn in the business time zone."""

    daily: DailyPartitionsDefinition
    weekly: WeeklyPartitionsDefinition
    monthly: MonthlyPartitionsDefinition

    @classmethod
    def of(cls, settings: Settings) -> Partitions:
        partition_keys_once_a_day()
        subsets_merged_once()
        start, tz = settings.first_partition.isoformat(), settings.business_time_zone.key
        return cls(
            daily=DailyPartitionsDefinition(start_date=start, timezone=tz),
            weekly=WeeklyPartitionsDefinition(start_date=start, timezone=tz, day_offset=1),
            monthly=MonthlyPartitionsDefinition(start_date=start, timezone=tz),
        )

    def by_grain(self) -> dict[str, Any]:
        return {"daily": self.daily, "weekly": self.weekly, "monthly": self.monthly}


@functools.cache  # once per process
def partition_keys_once_a_day() -> None:
    """Dagster lists every partition of an upstream asset each time a step of an unpartitioned asset starts
    (its inputs' data versions), only to find more than it looks at (`SKIP_PARTITION_DATA_VERSION_DEPENDENCY_
    THRESHOLD`, 100) and use the latest materialisation instead. The reporting views read marts of every grain:
    each run listed the 6,181 days since 2010 once per daily mart, 0.3 s a list (help-desk, January-June 2010: 4.1 s of
    the reporting steps of its five runs, BENCHMARKS.md). A time-window definition's keys depend on the
    definition and its last partition only: listed once per definition and last partition, then copied.
    Dagster is pinned (pyproject.toml); tests/test_periods.py checks the lists are Dagster's own."""
    from dagster._core.definitions.partitions.context import partition_loading_context
    from dagster._core.definitions.partitions.definition.time_window import TimeWindowPartitionsDefinition

    listed = TimeWindowPartitionsDefinition.get_partition_keys
    lists: dict[tuple[Any, float | None], tuple[str, ...]] = {}

    def get_partition_keys(self: Any, current_time: datetime | None = None, dynamic_partitions_store: Any = None):
        with partition_loading_context(current_time, dynamic_partitions_store):
            last = self._get_last_partition_window(self._get_current_timestamp())
            key = (self, last.start.timestamp() if last else None)
            if key not in lists:
                if len(lists) >= 64:  # a long-lived process (the webserver) crosses days
                    lists.clear()
                lists[key] = tuple(listed(self))  # in the same loading context: the same current time
            return list(lists[key])

    functools.update_wrapper(get_partition_keys, listed)  # `__wrapped__`: Dagster's own, for the tests
    TimeWindowPartitionsDefinition.get_partition_keys = get_partition_keys


@functools.cache  # once per process
def subsets_merged_once() -> None:
    """A run over a range of N partitions makes Dagster build the range's subset from its N keys about twice a
    step (the run's planned events, each step's outputs and inputs): 24 times in the help-desk daily job over
    1,492 days. Dagster merges the keys' windows into the subset one at a time, building a new merged window
    object for each: 12 ms a subset, 0.3 s of that job. Into an empty subset of a definition without
    exclusions, the sorted windows are merged as runs of adjacent windows and each run built once: the same
    windows and count. Anything else is Dagster's own; tests/test_periods.py compares the two."""
    from dagster._core.definitions.partitions.subset.time_window import TimeWindowPartitionsSubset
    from dagster._core.definitions.partitions.utils.time_window import PersistedTimeWindow, TimeWindow

    merged = TimeWindowPartitionsSubset._add_partitions_to_time_windows

    def _add_partitions_to_time_windows(self: Any, initial_windows: Any, partition_keys: Any, validate: bool = True):
        if initial_windows or self.partitions_def.exclusions:
            return merged(self, initial_windows, partition_keys, validate=validate)
        windows = self.partitions_def.time_windows_for_partition_keys(frozenset(partition_keys), validate=validate)
        runs: list[list[Any]] = []  # [start, end, end's timestamp]
        added = 0
        for window in sorted(windows, key=lambda tw: tw.start.timestamp()):
            start = window.start.timestamp()
            if runs and start < runs[-1][2]:  # inside the last run: a key given twice, in two spellings
                continue
            if runs and start == runs[-1][2]:
                runs[-1][1:] = [window.end, window.end.timestamp()]
            else:
                runs.append([window.start, window.end, window.end.timestamp()])
            added += 1
        tz = self.partitions_def.timezone
        windows = [PersistedTimeWindow.from_public_time_window(TimeWindow(start, end), tz) for start, end, _ in runs]
        return windows, added

    functools.update_wrapper(_add_partitions_to_time_windows, merged)  # `__wrapped__`: Dagster's own, for the tests
    TimeWindowPartitionsSubset._add_partitions_to_time_windows = _add_partitions_to_time_windows


@dataclass(frozen=True)
class Window:
    """[start, end) as aware datetimes at business-day boundaries of `tz`."""

    start: datetime
    end: datetime
    tz: ZoneInfo

    @classmethod
    def for_days(cls, first: date, last_inclusive: date, tz: ZoneInfo) -> Window:
        start = datetime(first.year, first.month, first.day, tzinfo=tz)
        nxt = last_inclusive + timedelta(days=1)
        return cls(start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz), tz)

    @classmethod
    def from_context(cls, context: Any, tz: ZoneInfo) -> Window:
        """The partition window of an asset's or an asset check's run."""
        time_window = getattr(context, "op_execution_context", context).partition_time_window
        return cls(time_window.start.astimezone(tz), time_window.end.astimezone(tz), tz)

    @property
    def first_day(self) -> date:
        return self.start.astimezone(self.tz).date()

    @property
    def end_day(self) -> date:
        """The business day right after the window (exclusive end)."""
        return self.end.astimezone(self.tz).date()

    @property
    def last_day(self) -> date:
        return self.end_day - timedelta(days=1)

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=i) for i in range((self.end_day - self.first_day).days)]

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(UTC)

    def partition_filter(self, source_system: str, alias: str = "") -> str:
        """SQL: a source's rows of the window's day partitions, in any landing-schema table. A source name is
        an identifier (SourceConfig.name: lower_snake_case, checked when the declaration loads)."""
        a = f"{alias}." if alias else ""
        return (
            f"{a}source_system = '{source_system}' and {a}partition_date >= '{self.first_day}' "
            f"and {a}partition_date <= '{self.last_day}'"
        )

    def dbt_vars(self, as_of_cap: datetime | None = None) -> dict[str, str]:
        """The window as dbt reads it (dbt_project.yml `vars`): business dates, end exclusive, and the
        evaluation cap (now unless given), UTC."""
        cap = (as_of_cap or utc_now()).astimezone(UTC)
        return {
            "window_start": self.first_day.isoformat(),
            "window_end": self.end_day.isoformat(),
            "as_of_cap": cap.strftime("%Y-%m-%d %H:%M:%S"),
        }

    def dbt_env(self, as_of_cap: datetime | None = None) -> dict[str, str]:
        """The same values as environment variables, which dbt reads only while executing
        (dbt_project/macros/window/window_value.sql): unlike --vars, they leave dbt's partial parse valid."""
        return {f"COMMITMENTS_DBT_{name.upper()}": value for name, value in self.dbt_vars(as_of_cap).items()}


@dataclass(frozen=True)
class PeriodRange:
    """Closed business days [first, last] and the weeks and months wholly inside them."""

    first: date
    last: date

    @classmethod
    def closed_days_until(cls, now: datetime, days_back: int, tz: ZoneInfo) -> PeriodRange:
        """The `days_back` business days that have closed by `now`."""
        today = now.astimezone(tz).date()
        return cls(today - timedelta(days=days_back), today - timedelta(days=1))

    @property
    def weeks(self) -> tuple[date, date] | None:
        """Mondays of the first and last ISO weeks wholly inside the range."""
        monday = self.first + timedelta(days=(7 - self.first.weekday()) % 7)
        last_sunday = self.last - timedelta(days=(self.last.weekday() + 1) % 7)
        last_monday = last_sunday - timedelta(days=6)
        return (monday, last_monday) if monday <= last_monday else None

    @property
    def months(self) -> tuple[date, date] | None:
        """First days of the first and last calendar months wholly inside the range."""
        first = self.first if self.first.day == 1 else _next_month(self.first)
        last = _previous_month((self.last + timedelta(days=1)).replace(day=1))
        return (first, last) if first <= last else None


def _next_month(d: date) -> date:
    return (d.replace(day=1) + timedelta(days=32)).replace(day=1)


def _previous_month(d: date) -> date:
    return (d.replace(day=1) - timedelta(days=1)).replace(day=1)


def business_periods(first: date, last: date, tz: ZoneInfo) -> pd.DataFrame:
    """Every day, ISO week and month between two dates, with bounds as UTC instants drawn in the
    business time zone (so DST zones get 23- and 25-hour days right), the label a report shows
    (2026-03-10, 2026-W11, 2026-03) and the zone itself: the reporting views read it to show local
    business time beside UTC (dbt_project/macros/reporting/business_local_time.sql)."""
    rows = []
    days = pd.date_range(first, last, freq="D")
    starts = {"day": days, "week": days[days.dayofweek == 0], "month": days[days.day == 1]}
    offsets = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1)}
    for grain, local_starts in starts.items():
        local_ends = local_starts + offsets[grain]
        rows.append(
            pd.DataFrame(
                {
                    "period_grain": grain,
                    "period_start_date": local_starts.date,
                    "period_start": local_starts.tz_localize(tz).tz_convert("UTC").tz_localize(None),
                    "period_end": local_ends.tz_localize(tz).tz_convert("UTC").tz_localize(None),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    starts_at = pd.to_datetime(out.period_start_date)
    out["period_id"] = out.period_grain + ":" + starts_at.dt.strftime("%Y-%m-%d")
    labels = {"day": "%Y-%m-%d", "week": "%G-W%V", "month": "%Y-%m"}
    out["period_label"] = ""
    for grain, label in labels.items():
        of_grain = out.period_grain == grain
        out.loc[of_grain, "period_label"] = starts_at[of_grain].dt.strftime(label)
    out["time_zone"] = tz.key
    return out
