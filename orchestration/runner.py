"""Run the jobs for a range of periods in one process: what the main command, the benchmark and the
tests do. Each job runs once for its whole range (single-run backfill), recorded in the instance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dagster import DagsterInstance, Definitions

from orchestration.settings import pipeline_settings


@dataclass(frozen=True)
class PeriodRange:
    """Closed business days [first, last] and the weeks and months wholly inside them."""

    first: date
    last: date

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


def closed_days_until(now: datetime, days_back: int) -> PeriodRange:
    """The `days_back` business days that have closed by `now`."""
    today = now.astimezone(pipeline_settings().business_time_zone).date()
    return PeriodRange(today - timedelta(days=days_back), today - timedelta(days=1))


def run_job(
    defs: Definitions, job: str, instance: DagsterInstance, first: str | None = None, last: str | None = None
) -> None:
    """Run one job, for the partition range [first, last] when given, as a single run."""
    tags = {}
    if first is not None:
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    result = defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags)
    if not result.success:
        raise RuntimeError(f"{job} failed for {first}...{last}")


def run_periods(defs: Definitions, instance: DagsterInstance, periods: PeriodRange) -> list[str]:
    """Reference, then daily over the range, then the whole weeks and months in it."""
    done = ["reference_job"]
    run_job(defs, "reference_job", instance)
    run_job(defs, "daily_job", instance, periods.first.isoformat(), periods.last.isoformat())
    done.append(f"daily_job {periods.first}...{periods.last}")
    if periods.weeks:
        run_job(defs, "weekly_job", instance, *(d.isoformat() for d in periods.weeks))
        done.append(f"weekly_job {periods.weeks[0]}...{periods.weeks[1]}")
    if periods.months:
        run_job(defs, "monthly_job", instance, *(d.isoformat() for d in periods.months))
        done.append(f"monthly_job {periods.months[0]}...{periods.months[1]}")
    return done
