"""Run the jobs for a range of periods in one process: what the main command, the benchmark and the
tests do. Each job runs once for its whole range (single-run backfill), recorded in the instance.

A run holds the `warehouse` pool slot while a step writes. A process killed then (SIGKILL, out of memory)
leaves its run STARTED with the slot claimed, and every later run would wait for it forever. So each run
is tagged with the process that runs it, and before a run starts, the runs of this host whose process is
gone are marked failed and their slots freed (`sweep_dead_runs`). The daemon deployment's runs are
watched by Dagster's run monitoring instead (deploy/dagster.yaml).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from dagster import DagsterInstance, DagsterRunStatus, Definitions, ExecuteInProcessResult, RunsFilter

# Dagster keeps a SIGINT or SIGTERM that arrives between steps for the next step; a run waiting for a pool
# slot never gets there. Private, but the only way to see the signal (dagster is pinned in pyproject.toml).
from dagster._utils.interrupts import check_captured_interrupt

from orchestration.console_log import RUN_CONFIG
from orchestration.event_log import EVENT_BATCH_SIZE
from orchestration.periods import PeriodRange

HOST_TAG, PID_TAG, STARTED_TAG = "commitments/host", "commitments/pid", "commitments/process_started"
LIVE_STATUSES = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED,
                 DagsterRunStatus.CANCELING]  # fmt: skip
INTERRUPTED_EXIT = 130  # as a shell reports a process stopped by a signal it handled


def _process_started(pid: int) -> str | None:
    """The kernel's start time of a live process (Linux /proc), which tells it from a later process given the
    same pid; None when it is gone or a zombie. "" where /proc does not exist."""
    if not Path("/proc/self/stat").exists():
        return ""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def process_tags() -> dict[str, str]:
    """Which process runs a run: the host, the pid and its start time."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), STARTED_TAG: _process_started(os.getpid()) or ""}


def _process_alive(pid: int, started: str) -> bool:
    now = _process_started(pid)
    if now == "":  # no /proc: ask the kernel whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return now is not None and (not started or now == started)


def sweep_dead_runs(instance: DagsterInstance) -> list[str]:
    """Fail the live runs of this host whose process is gone and free their pool slots; free the slots that
    ended runs still hold. Returns a line per run swept."""
    host, swept = socket.gethostname(), []
    for run in instance.get_runs(filters=RunsFilter(statuses=LIVE_STATUSES, tags={HOST_TAG: host})):
        pid = int(run.tags.get(PID_TAG, "0"))
        if not pid or _process_alive(pid, run.tags.get(STARTED_TAG, "")):
            continue
        message = (
            f"The process of this run (pid {pid} on {host}) is gone, killed or crashed: marked failed and its "
            f"pool slots freed at the start of a later run (pid {os.getpid()}). What it had not committed was "
            "rolled back; rerun its partitions."
        )
        instance.report_run_failed(run, message)
        swept.append(f"run {run.run_id} ({run.job_name}): process {pid} is gone; marked failed, pool slots freed")
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids():
            run = instance.get_run_by_id(run_id)
            if run is not None and run.is_finished:
                storage.free_concurrency_slots_for_run(run_id)
    return swept


def _waiting_for_pool(instance: DagsterInstance, run_id: str) -> str | None:
    """The pool a step of the run waits for, if any."""
    storage = instance.event_log_storage
    for pool in storage.get_concurrency_keys():
        pending = storage.get_concurrency_info(pool).pending_steps
        if any(step.run_id == run_id and step.assigned_timestamp is None for step in pending):
            return pool
    return None


def _holders(instance: DagsterInstance, pool: str) -> str:
    claimed = instance.event_log_storage.get_concurrency_info(pool).claimed_slots
    runs = [instance.get_run_by_id(slot.run_id) for slot in claimed]
    return ", ".join(
        f"run {r.run_id} ({r.job_name}, pid {r.tags.get(PID_TAG, '?')} on {r.tags.get(HOST_TAG, '?')})"
        if r is not None else "an unknown run"
        for r in runs
    ) or "nobody"  # fmt: skip


def _stop_waiting(instance: DagsterInstance, run_id: str, pool: str) -> None:
    """The run was interrupted while it waited for a slot (so no step of it is writing): cancel it, leave
    the queue, and exit with a message."""
    message = (
        f"Interrupted while waiting for a slot of pool `{pool}`, held by {_holders(instance, pool)}; "
        f"run {run_id} canceled. If that run's process is gone, the next run frees its slot."
    )
    run = instance.get_run_by_id(run_id)
    if run is not None:
        instance.report_run_canceled(run, message)
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    print(message, file=sys.stderr, flush=True)
    os._exit(INTERRUPTED_EXIT)  # the main thread is in Dagster's wait loop, which no exception reaches


@contextmanager
def _interruptible_while_waiting(instance: DagsterInstance, run_id: str) -> Iterator[None]:
    """Watch for a SIGINT or SIGTERM that Dagster holds while the run waits for a pool slot."""
    if not instance.event_log_storage.supports_global_concurrency_limits:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            if check_captured_interrupt() and (pool := _waiting_for_pool(instance, run_id)):
                _stop_waiting(instance, run_id, pool)

    watcher = threading.Thread(target=watch, name=f"interrupts of {run_id}", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


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
    # Dagster hands a step's per-partition events to the storage as one batch only when this is set
    # (orchestration/event_log.py); a deployment's environment may set its own size.
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    for line in sweep_dead_runs(instance):
        print(f"swept {line}", file=sys.stderr, flush=True)
    tags = process_tags()
    if run.first is not None:
        tags |= {"dagster/asset_partition_range_start": run.first, "dagster/asset_partition_range_end": run.last}
    run_id = run_id or str(uuid.uuid4())  # known before the run starts, for the watcher
    with _interruptible_while_waiting(instance, run_id):
        return defs.resolve_job_def(run.job).execute_in_process(
            instance=instance, tags=tags, run_id=run_id, raise_on_error=raise_on_error, run_config=RUN_CONFIG
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
