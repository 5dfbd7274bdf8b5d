"""Run the jobs for a range of periods in one process: what the main command, the benchmark and the
tests do. Each job runs once for its whole range (single-run backfill), recorded in the instance."""

from __future__ import annotations

from dagster import DagsterInstance, Definitions

from orchestration.periods import PeriodRange


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
