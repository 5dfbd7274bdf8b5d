"""Run the jobs for a range of periods in one process: what the main command, the benchmark and the
tests do. Each job runs once for its whole range (single-run backfill), recorded in the instance."""

from __future__ import annotations

from typing import NamedTuple

from dagster import DagsterInstance, Definitions, ExecuteInProcessResult

from orchestration.periods import PeriodRange


class JobRun(NamedTuple):
    """One run of a job, over the partition range [first, last] when the job is partitioned."""

    job: str
    first: str | None = None
    last: str | None = None

    @property
    def partitions(self) -> str:
        return "" if self.first is None else self.first if self.first == self.last else f"{self.first}...{self.last}"


def execute(
    defs: Definitions, run: JobRun, instance: DagsterInstance, run_id: str | None = None, raise_on_error: bool = False
) -> ExecuteInProcessResult:
    """Run one job as a single run. By default a failed step is in the result (`result.success`, its failure
    events), not raised; `run_id` lets a caller subscribe to the run's events before it starts."""
    tags = {}
    if run.first is not None:
        tags = {"dagster/asset_partition_range_start": run.first, "dagster/asset_partition_range_end": run.last}
    return defs.resolve_job_def(run.job).execute_in_process(
        instance=instance, tags=tags, run_id=run_id, raise_on_error=raise_on_error
    )


def run_job(
    defs: Definitions, job: str, instance: DagsterInstance, first: str | None = None, last: str | None = None
) -> None:
    """Run one job, for the partition range [first, last] when given, as a single run; raise if it fails."""
    result = execute(defs, JobRun(job, first, last), instance, raise_on_error=True)
    if not result.success:
        raise RuntimeError(f"{job} failed for {first}...{last}")


def planned_runs(periods: PeriodRange) -> list[JobRun]:
    """Reference, then daily over the range, then the whole weeks and months in it."""
    runs = [JobRun("reference_job"), JobRun("daily_job", periods.first.isoformat(), periods.last.isoformat())]
    if periods.weeks:
        runs.append(JobRun("weekly_job", *(d.isoformat() for d in periods.weeks)))
    if periods.months:
        runs.append(JobRun("monthly_job", *(d.isoformat() for d in periods.months)))
    return runs


def run_periods(defs: Definitions, instance: DagsterInstance, periods: PeriodRange) -> list[str]:
    """Every planned run in order, each raising if it fails; returns what was done."""
    done = []
    for run in planned_runs(periods):
        run_job(defs, run.job, instance, run.first, run.last)
        done.append(f"{run.job} {run.partitions}".strip())
    return done
