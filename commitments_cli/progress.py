"""Run the planned jobs one after the other, with a live bar of each run's steps and one line per job as it
finishes: job, partitions, seconds, ok or failed (with the failed steps' one-line reasons)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

from dagster import DagsterEventType, DagsterInstance, Definitions
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from orchestration.runner import JobRun, execute

_STEP_DONE = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.STEP_SKIPPED}


@dataclass
class JobOutcome:
    run: JobRun
    seconds: float
    ok: bool
    failures: list[str] = field(default_factory=list)  # "<step>: <reason>"


def run_with_progress(
    defs: Definitions, instance: DagsterInstance, runs: list[JobRun], console: Console
) -> list[JobOutcome]:
    """Each run in order; stops after the first that fails (the later ones build on it)."""
    outcomes: list[JobOutcome] = []
    for run in runs:
        outcome = _run_one(defs, instance, run, console)
        outcomes.append(outcome)
        status = "[green]ok[/]" if outcome.ok else "[bold red]failed[/]"
        console.print(f"  {run.job:<12} {run.partitions or '-':<24} {outcome.seconds:7.1f} s  {status}")
        for failure in outcome.failures:
            console.print(f"      {failure}", markup=False, highlight=False)
        if not outcome.ok:
            break
    return outcomes


def _run_one(defs: Definitions, instance: DagsterInstance, run: JobRun, console: Console) -> JobOutcome:
    steps = len(defs.resolve_job_def(run.job).graph.nodes)
    run_id = str(uuid.uuid4())
    failures: list[str] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("steps"), TimeElapsedColumn())  # fmt: skip
    # The live bar only on a terminal; a log or a pipe gets the job lines alone.
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        label = f"{run.job} {run.partitions}".strip()
        task = progress.add_task(label, total=steps)

        def on_event(entry) -> None:
            event = entry.dagster_event
            if event is None:
                return
            if event.event_type == DagsterEventType.STEP_START:
                progress.update(task, description=f"{label}: {event.step_key}", refresh=True)
            elif event.event_type in _STEP_DONE:
                progress.update(task, advance=1, refresh=True)
                if event.event_type == DagsterEventType.STEP_FAILURE:
                    failures.append(f"{event.step_key}: {reason(event.step_failure_data.error)}")

        instance.add_event_listener(run_id, on_event)
        began = time.perf_counter()
        result = execute(defs, run, instance, run_id=run_id)
    return JobOutcome(run, time.perf_counter() - began, result.success, failures)


def reason(error) -> str:
    """The first line of the error the step's code raised, without Dagster's wrapping around it."""
    while error is not None and error.cls_name.startswith("Dagster") and error.cause is not None:
        error = error.cause
    if error is None:
        return "failed"
    message = next((line.strip() for line in error.message.splitlines() if line.strip()), error.cls_name)
    return re.sub(rf"^[\w.]*\b{re.escape(error.cls_name)}: ", "", message)  # "module.Class: " is noise here
