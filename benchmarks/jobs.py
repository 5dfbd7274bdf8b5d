"""The real Dagster jobs, timed as a user runs them: reference, daily over the range, weekly, monthly, each
one single-run backfill through `orchestration/runner.py`, on a Dagster instance configured as a
deployment's (deploy/dagster.yaml: SQLite under DAGSTER_HOME; deploy/dagster.postgres.yaml: PostgreSQL,
here a throwaway database), then one more day on top of the history.

Per job it reports the wall time split into stages, from the run's own records: extraction, landing and
the landing checks from the seconds each extraction asset records in its materialisation metadata; dbt
from the time dbt ran in the run's process (its commands, and its import and parse while the definitions
load) less its data tests (dbt's results); checks = the landing checks, dbt's data tests and the Great Expectations
asset-check steps; reports = the reporting step less its dbt (the read-only snapshot for BI) and the
monthly department reports (rendered and delivered); orchestration = the rest (loading the definitions, run
creation, Dagster's events, step set-up). It counts the run's events by type, checks that every partition of
the range is recorded as materialised for every asset, and samples the resident memory of this process every
0.1 s (peak per stage, and while dbt runs). Each case runs in a child process of its own, so that its peak
memory is its own. On DuckDB, after the history's jobs and before one more day, it times the work bound
(benchmarks/work_bound.py: one hand-written script from the landed tables to the classified runs and rate
rows of the same windows, checked equal to the marts) and reports the history's dbt stage against it.

    python -m benchmarks.jobs --case helpdesk --warehouse both --instance both
    python -m benchmarks.jobs --case demo --days 60 --orders-per-day 300
    python -m benchmarks.jobs --case demo --days 60,365 --repeat 3   # one more day after each history, in turn
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.servers import PG_DEFAULTS

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The help-desk source declaration's own override (config/sources/helpdesk.yaml `path_env`).
HELPDESK_CSV = Path(os.environ.get("HELPDESK_CSV") or PROJECT_DIR.parent / "shared/datasets/helpdesk/helpdesk.csv")
HELPDESK_RANGE = (dt.date(2010, 1, 1), dt.date(2014, 1, 31))  # the log runs from 2010-01-13 to 2014-01-03
# The reporting step (the views: dbt, when they must be rebuilt; then the read-only snapshot) and the monthly
# department reports: what the "reports" stage counts, less the reporting step's dbt time.
REPORTING_STEP, REPORTS_STEP = "dbt_reporting_models", "reports__department_reports"
STAGES = ["orchestration", "extraction", "landing", "dbt", "checks", "reports"]
TARGETS = {
    "helpdesk": "<= 60 s end to end on DuckDB, orchestration <= 20%",
    "one more day": "<= 5 s on DuckDB, within 1.2x between after 60 and after 365 days of history (--days 60,365)",
    "10M": "10M node runs <= 150 s and <= 4 GiB on DuckDB, its dbt stage within 2x of the work bound",
    "postgres": "PostgreSQL at 1M <= 2x DuckDB",
}
# Issue 14's marts: building them may add at most 10% to the monthly job (at 1M node runs, the demo case).
LOOP_MARTS = ("commitment_calibration_monthly", "process_bottlenecks_monthly")
LOOP_MARTS_SHARE = 0.10


# --------------------------------------------------------------------------------------------------
# Memory: this process and its children, sampled
# --------------------------------------------------------------------------------------------------


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class Sampler:
    """Every `interval` s: (time, RSS of this process); and the intervals in which dbt ran in this process
    (the jobs run dbt in process: orchestration/dbt_runner.py, whose `invoke` this wraps while it samples)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.samples: list[tuple[float, int]] = []
        self.invocations: list[tuple[float, float, Any]] = []  # (start, end, orchestration.dbt_runner.Invocation)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss sampler", daemon=True)
        self._interval = interval

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self._interval):
            self.samples.append((time.time(), _rss_kib(me)))

    def __enter__(self) -> Sampler:
        from orchestration import dbt_project, dbt_runner

        self._originals = [(dbt_runner, "invoke", dbt_runner.invoke), (dbt_project, "_parse", dbt_project._parse)]
        dbt_runner.invoke = self._timed(dbt_runner.invoke, results=True)
        dbt_project._parse = self._timed(dbt_project._parse, results=False)
        self._thread.start()
        return self

    def _timed(self, function: Any, results: bool) -> Any:
        """dbt's commands (their Invocation kept, for its results) and parses (None kept)."""

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.time()
            out = function(*args, **kwargs)
            self.invocations.append((start, time.time(), out if results else None))
            return out

        return timed

    def __exit__(self, *exc: object) -> None:
        for module, name, function in self._originals:
            setattr(module, name, function)
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> int:
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)

    def dbt_seconds(self, start: float, end: float) -> float:
        """How long dbt ran inside [start, end]."""
        return sum(max(0.0, min(last, end) - max(first, start)) for first, last, _ in self.invocations)

    def dbt_peak(self, start: float, end: float) -> int:
        """The process's peak while dbt ran inside [start, end]."""
        inside = [(max(first, start), min(last, end)) for first, last, _ in self.invocations
                  if first <= end and last >= start]  # fmt: skip
        return max((self.peak(first, last) for first, last in inside), default=0)


# --------------------------------------------------------------------------------------------------
# One job, from its run's records
# --------------------------------------------------------------------------------------------------


@dataclass
class JobFigures:
    job: str
    partitions: str
    wall: float
    stages: dict[str, float]
    events: dict[str, int]
    peak_rss_mib: dict[str, float]  # per stage kind, the whole run, and while dbt ran (all in this process)
    load: tuple[float, float]  # 1-minute load average at the start and at the end
    materialized_ok: bool = True
    checks_ok: bool = True
    checks: int = 0  # asset checks of the job, each verified to have a result recorded by the run
    notes: list[str] = field(default_factory=list)
    model_seconds: dict[str, float] = field(default_factory=dict)  # dbt model -> its build + its tests' seconds
    check_seconds: dict[str, float] = field(default_factory=dict)  # the checks stage by kind of check
    test_seconds: dict[str, float] = field(default_factory=dict)  # the costliest dbt data tests


def _step_kind(step_key: str) -> str:
    if step_key.startswith("landing__") or step_key == "reference_tables":
        return "landing"
    if step_key in (REPORTING_STEP, REPORTS_STEP):
        return "reports"
    if step_key.startswith("dbt_"):
        return "dbt"
    return "checks"  # the Great Expectations asset checks on the marts


def _dbt_seconds(sampler: Sampler, start: float, end: float) -> tuple[Counter[str], dict[str, float]]:
    """From the results of the dbt invocations inside [start, end]: each data test's execution seconds, and per
    model its execution seconds plus those of the data tests attached to it (`attached_node`), so a model's
    share of a job is what leaving it out would save of dbt's work; dbt's fixed cost per invocation is not
    in any model's figure."""
    tests: Counter[str] = Counter()
    per_model: Counter[str] = Counter()
    for first, _, invocation in sampler.invocations:
        if not start <= first <= end:
            continue
        for r in getattr(invocation.result, "results", None) or []:
            if r.node.unique_id.startswith("test."):
                tests[r.node.name] += r.execution_time
            per_model[getattr(r.node, "attached_node", None) or r.node.unique_id] += r.execution_time
    return tests, {owner.rsplit(".", 1)[-1]: seconds for owner, seconds in per_model.items()}


def job_figures(instance, run_id: str, job: str, partitions: str, began: float, ended: float, sampler: Sampler,
                load: tuple[float, float]) -> JobFigures:  # fmt: skip
    from dagster import DagsterEventType

    records = instance.all_logs(run_id)
    events = Counter(r.dagster_event.event_type_value for r in records if r.dagster_event is not None)
    starts, steps = {}, {}
    extraction = {"extract": 0.0, "land": 0.0, "checks": 0.0}
    for r in records:
        event = r.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = r.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            steps[event.step_key] = (starts.get(event.step_key, began), r.timestamp)
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            metadata = event.step_materialization_data.materialization.metadata
            if "seconds_extract" in metadata and event.partition in (None, partitions.split("...")[0]):
                for stage in extraction:
                    extraction[stage] += float(metadata[f"seconds_{stage}"].value)
    test_seconds, model_seconds = _dbt_seconds(sampler, began, ended)
    tests = sum(test_seconds.values())
    dbt_process = sampler.dbt_seconds(began, ended)
    gx_steps = sum(end - start for key, (start, end) in steps.items() if _step_kind(key) == "checks")
    reference = sum(end - start for key, (start, end) in steps.items() if key == "reference_tables")
    reports = sum(end - start - sampler.dbt_seconds(start, end) for key, (start, end) in steps.items()
                  if _step_kind(key) == "reports")  # fmt: skip
    stages = {
        "extraction": extraction["extract"],
        "landing": extraction["land"] + reference,
        "dbt": max(0.0, dbt_process - tests),
        "checks": extraction["checks"] + tests + gx_steps,
        "reports": reports,
    }
    wall = ended - began
    stages = {"orchestration": max(0.0, wall - sum(stages.values())), **stages}
    peaks: dict[str, float] = {}
    for key, (start, end) in steps.items():
        kind = _step_kind(key)
        peaks[kind] = max(peaks.get(kind, 0.0), sampler.peak(start, end) / 1024)
    peaks["run"] = sampler.peak(began, ended) / 1024
    peaks["in dbt"] = sampler.dbt_peak(began, ended) / 1024
    checks = {"landing": extraction["checks"], "dbt data tests": tests, "models' GX suites": gx_steps}
    return JobFigures(job, partitions, wall, stages, dict(events), peaks, load, model_seconds=model_seconds,
                      check_seconds=checks, test_seconds=dict(test_seconds.most_common(4)))  # fmt: skip


def _check_materialized(instance, defs, figures: JobFigures, job_name: str, first: str, last: str) -> None:
    """Every asset of a partitioned job is recorded as materialised for every partition of its range: what
    the UI's per-partition status shows."""
    graph = defs.resolve_asset_graph()
    for key in defs.resolve_job_def(job_name).asset_layer.selected_asset_keys:
        partitions_def = graph.get(key).partitions_def
        if partitions_def is None:
            continue
        wanted = set(partitions_def.get_partition_keys_in_range(_key_range(first, last)))
        got = set(instance.get_materialized_partitions(key))
        if not wanted <= got:
            figures.materialized_ok = False
            figures.notes.append(
                f"{key.to_user_string()}: {len(wanted - got)} of {len(wanted)} partitions not recorded as materialised"
            )


def _check_checks(instance, defs, figures: JobFigures, job_name: str, run_id: str) -> None:
    """Every asset check of the job has a result recorded by this run (the UI's check status)."""
    from dagster import AssetCheckKey
    from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

    layer = defs.resolve_job_def(job_name).asset_layer
    keys = [k for d in layer.data for k in d.assets_def.asset_and_check_keys if isinstance(k, AssetCheckKey)]
    for key in keys:
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10_000)
        mine = [r for r in history if r.run_id == run_id]
        if not any(r.status in COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES for r in mine):
            figures.checks_ok = False
            figures.notes.append(f"check {key.name} on {key.asset_key.to_user_string()}: no result recorded")
    figures.checks = len(keys)


def _key_range(first: str, last: str):
    from dagster import PartitionKeyRange

    return PartitionKeyRange(first, last)


# --------------------------------------------------------------------------------------------------
# One case in a child process: environment, sources, instance, the runs
# --------------------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    case: str
    warehouse: str
    instance: str
    range: str
    source_rows: dict[str, int]
    jobs: list[JobFigures]
    node_runs: int = 0
    failure: str = ""
    dagster_home: str = ""
    schema: str = ""  # the warehouse schema of the run (WAREHOUSE_SCHEMA), dropped after it unless kept
    # DuckDB: the work bound (benchmarks/work_bound.py) over the history's windows, run after its jobs
    work_bound: dict[str, Any] | None = None
    days: int = 0  # the history's closed days (the range), what one more day is compared across

    @property
    def one_more_day(self) -> float | None:
        return next((job.wall for job in self.jobs if job.job == "one more day"), None)

    @property
    def history_seconds(self) -> float:
        return sum(job.wall for job in self.jobs if job.job != "one more day")


def _pg_admin(sql: str) -> None:
    import psycopg2

    pg = PG_DEFAULTS
    conn = psycopg2.connect(host=pg["PGHOST"], port=int(pg["PGPORT"]), user=pg["PGUSER"], dbname=pg["PGDATABASE"])
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _environment(scratch: Path, warehouse: str, instance: str, gx: bool) -> dict[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    home = scratch / "dagster_home"
    home.mkdir(parents=True)
    yaml = "dagster.postgres.yaml" if instance == "postgres" else "dagster.yaml"
    shutil.copy(PROJECT_DIR / "deploy" / yaml, home / "dagster.yaml")
    (scratch / "sources_config").mkdir()
    env = {
        "COMMITMENTS_DATA_DIR": str(scratch),
        "COMMITMENTS_SOURCES_DIR": str(scratch / "sources_config"),
        "COMMITMENTS_GX_CHECKS": "true" if gx else "false",
        "WAREHOUSE_TARGET": warehouse,
        "WAREHOUSE_SCHEMA": schema,
        "WAREHOUSE_DUCKDB_PATH": str(scratch / "warehouse.duckdb"),
        "DAGSTER_HOME": str(home),
        **PG_DEFAULTS,
    }
    if instance == "postgres":
        database = f"bench_dagster_{uuid.uuid4().hex[:8]}"
        _pg_admin(f"create database {database}")
        pg = PG_DEFAULTS
        env["DAGSTER_PG_URL"] = f"postgresql+psycopg2://{pg['PGUSER']}@{pg['PGHOST']}:{pg['PGPORT']}/{database}"
    return env


def _cleanup(env: dict[str, str]) -> None:
    if env["WAREHOUSE_TARGET"] == "postgres":
        from orchestration.warehouse import Warehouse

        for name in Warehouse(target="postgres", schema_name=env["WAREHOUSE_SCHEMA"]).schemas:
            _pg_admin(f"drop schema if exists {name} cascade")
    if "DAGSTER_PG_URL" in env:
        _pg_admin(f"drop database if exists {env['DAGSTER_PG_URL'].rsplit('/', 1)[1]} with (force)")


def run_case(case: str, warehouse: str, instance_kind: str, opts: dict) -> CaseResult:
    """In the child process: prepare the sources, then every planned run and one more day."""
    scratch = Path(opts["scratch"])
    env = _environment(scratch, warehouse, instance_kind, opts["gx"])
    os.environ.update(env)
    server = None
    try:
        if case == "helpdesk":
            shutil.copy(PROJECT_DIR / "config" / "sources" / "helpdesk.yaml", scratch / "sources_config")
            os.environ["HELPDESK_CSV"] = str(HELPDESK_CSV)
            first, last = (
                HELPDESK_RANGE[0],
                dt.date.fromisoformat(opts["until"]) if opts["until"] else HELPDESK_RANGE[1],
            )
            rows = {"helpdesk": sum(1 for _ in HELPDESK_CSV.open(encoding="utf-8")) - 1}
        else:
            from benchmarks.pipeline import DEMO_SOURCES, business_midnight_today
            from demo.main import point_at_demo_sources, start_ticket_api, write_demo_sources

            for name in DEMO_SOURCES:
                shutil.copy(PROJECT_DIR / "config" / "sources" / f"{name}.yaml", scratch / "sources_config")
            now = business_midnight_today()
            # In a process of its own: Python keeps what it freed, and the generator's frames (3.7 GiB for 10M
            # runs) would stay in this process's peak memory, which is the pipeline's.
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as generator:
                rows = generator.submit(write_demo_sources, opts["days"], opts["orders_per_day"], now, 7).result()
            point_at_demo_sources()
            server = start_ticket_api()
            last = (now - dt.timedelta(days=1)).date()
            first = last - dt.timedelta(days=opts["days"] - 1)
        bound = opts["work_bound"] and warehouse == "duckdb"
        return _run_jobs(case, warehouse, instance_kind, first, last, rows, bound)
    finally:
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
        if not opts["keep"]:
            _cleanup(env)


def _run_jobs(case: str, warehouse: str, instance_kind: str, first: dt.date, last: dt.date, rows: dict,
              bound: bool = False) -> CaseResult:  # fmt: skip
    from dagster import DagsterInstance

    from orchestration.periods import PeriodRange
    from orchestration.runner import JobRun, execute, planned_runs
    from orchestration.settings import Settings
    from orchestration.warehouse import Warehouse

    result = CaseResult(
        case,
        warehouse,
        instance_kind,
        f"{first}...{last}",
        rows,
        [],
        dagster_home=os.environ["DAGSTER_HOME"],
        schema=os.environ["WAREHOUSE_SCHEMA"],
        days=(last - first).days + 1,
    )
    resource = Warehouse.from_settings(Settings.load())
    runs = planned_runs(PeriodRange(first, last))
    runs.append(JobRun("daily_job", last.isoformat(), last.isoformat()))  # one more day: the last one again
    with Sampler() as sampler:
        started = time.time()
        # What a deployment loads: the module builds the definitions, dbt's parse of the project included.
        fresh = "orchestration.definitions" not in sys.modules
        # dbt's own import, which dbt runs in this process need (it was a dbt process's start-up): dbt's time.
        import dbt.cli.main  # noqa: F401

        dbt_imported = time.time()
        import orchestration.definitions

        defs = orchestration.definitions.defs if fresh else orchestration.definitions.build_defs()
        instance = DagsterInstance.get()
        setup_end = time.time()
        setup, setup_dbt = setup_end - started, dbt_imported - started + sampler.dbt_seconds(started, setup_end)
        for i, run in enumerate(runs):
            if bound and i == len(runs) - 1:  # the history is built: the bound over the same windows
                result.work_bound = _work_bound(resource, PeriodRange(first, last))
            load = os.getloadavg()[0]
            run_id = str(uuid.uuid4())
            began = time.time()
            outcome = execute(defs, run, instance, run_id=run_id)
            ended = time.time()
            label = "one more day" if i == len(runs) - 1 else run.job
            figures = job_figures(instance, run_id, label, run.partitions, began, ended, sampler,
                                  (load, os.getloadavg()[0]))  # fmt: skip
            if i == 0:  # loading the definitions: once per process
                figures.stages["orchestration"] += setup - setup_dbt
                figures.stages["dbt"] += setup_dbt
                figures.wall += setup
            if run.first is not None:
                _check_materialized(instance, defs, figures, run.job, run.first, run.last)
            _check_checks(instance, defs, figures, run.job, run_id)
            result.jobs.append(figures)
            if not outcome.success:
                result.failure = f"{run.job} {run.partitions} failed"
                break
        instance.dispose()
    result.node_runs = int(resource.query(f"select count(*) as n from {resource.schema_name}.fct_node_runs").n[0])
    return result


def _work_bound(warehouse, periods) -> dict[str, Any]:
    """The hand-written script from the landed tables to the classified runs and rate rows of the history's
    windows, on the run's own DuckDB file, timed and compared with the marts (benchmarks/work_bound.py)."""
    from benchmarks.work_bound import period_windows, work_bound

    # Every closed period's as_of is its end, before now: the cap the jobs ran with changes nothing.
    cap = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    with warehouse.connect() as conn:
        found = work_bound(conn, warehouse.schema_name, period_windows(periods), cap)
    return asdict(found)


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _events_text(events: dict[str, int]) -> str:
    materialized = events.get("ASSET_MATERIALIZATION", 0)
    planned = events.get("ASSET_MATERIALIZATION_PLANNED", 0)
    checks = events.get("ASSET_CHECK_EVALUATION", 0)
    return f"{sum(events.values()):,} ({materialized:,} mat., {planned:,} planned, {checks:,} checks)"


def case_table(result: CaseResult) -> str:
    head = (
        "| job | partitions | wall s | "
        + " | ".join(STAGES)
        + " | events (materialisations, planned, checks) | peak RSS MiB: run / in dbt | load 1-min start-end |"
    )
    lines = [head, "|" + "---|" * 2 + "--:|" * (len(STAGES) + 1) + "--:|--:|--:|"]
    total = JobFigures("**history total**", "", 0.0, dict.fromkeys(STAGES, 0.0), {}, {}, (0, 0))
    for job in result.jobs:
        if job.job != "one more day":
            total.wall += job.wall
            for stage in STAGES:
                total.stages[stage] += job.stages[stage]
            total.events = dict(Counter(total.events) + Counter(job.events))
            for k, v in job.peak_rss_mib.items():
                total.peak_rss_mib[k] = max(total.peak_rss_mib.get(k, 0.0), v)
    for job in [*[j for j in result.jobs if j.job != "one more day"], total,
                *[j for j in result.jobs if j.job == "one more day"]]:  # fmt: skip
        stages = " | ".join(f"{job.stages[s]:.1f}" for s in STAGES)
        rss = f"{job.peak_rss_mib.get('run', 0):.0f} / {job.peak_rss_mib.get('in dbt', 0):.0f}"
        load = f"{job.load[0]:.1f}-{job.load[1]:.1f}" if job.load != (0, 0) else ""
        events = _events_text(job.events)
        lines.append(f"| {job.job} | {job.partitions} | {job.wall:.1f} | {stages} | {events} | {rss} | {load} |")
    share = total.stages["orchestration"] / total.wall if total.wall else 0.0
    notes = [
        f"- history total {total.wall:.1f} s, orchestration {share:.0%} of it; fct_node_runs {result.node_runs:,} rows."
    ]
    for job in result.jobs:
        for note in job.notes:
            notes.append(f"- **{job.job}**: {note}")
    notes += [_loop_marts_note(job) for job in result.jobs if job.job == "monthly_job"]
    if result.work_bound is not None:
        notes.append(_work_bound_note(result))
    notes += [_top_models_note(job) for job in result.jobs if job.job in ("daily_job", "weekly_job", "one more day")
              and job.model_seconds]  # fmt: skip
    notes += [_checks_note(job) for job in result.jobs if job.stages.get("checks")]
    if result.failure:
        notes.append(f"- **FAILED**: {result.failure}")
    return "\n".join(lines + [""] + notes)


def _loop_marts_note(job: JobFigures) -> str:
    """What issue 14's marts cost the monthly job: their models and tests, against the job's wall time."""
    loop = sum(job.model_seconds.get(m, 0.0) for m in LOOP_MARTS)
    share = loop / job.wall if job.wall else 0.0
    top = sorted(job.model_seconds.items(), key=lambda kv: -kv[1])[:5]
    verdict = "within" if share <= LOOP_MARTS_SHARE else "OVER"
    return (
        f"- **monthly_job**: calibration and bottleneck marts ({', '.join(LOOP_MARTS)}, with their tests) "
        f"{loop:.1f} s of the job's {job.wall:.1f} s = {share:.1%} ({verdict} the {LOOP_MARTS_SHARE:.0%} budget); "
        f"dbt's costliest models with their tests: " + ", ".join(f"{m} {v:.1f} s" for m, v in top)
    )


# The models that build what the work bound builds (the classified runs, and the runs they classify).
BOUND_MODELS = ("fct_node_runs", "node_run_states_", "achievement_rates_")


def _work_bound_note(result: CaseResult) -> str:
    """Issue 12's ratio: the history's dbt stage (every job's dbt less its data tests, dbt's import and first
    parse included) against the work bound; and the models that build the same tables, with their tests."""
    bound = result.work_bound or {}
    if not bound.get("seconds"):
        return "- **work bound**: " + "; ".join(bound.get("details", []))
    history = [job for job in result.jobs if job.job != "one more day"]
    dbt = sum(job.stages["dbt"] for job in history)
    models = sum(v for job in history for m, v in job.model_seconds.items() if m.startswith(BOUND_MODELS))
    verdict = "equal to the marts" if bound["equal"] else "**DIFFERS from the marts**"
    return (
        f"- **work bound** (benchmarks/work_bound.py, the landed tables to the classified runs and rate rows of "
        f"every grain, {verdict}): **{bound['seconds']:.1f} s**; the history's dbt stage {dbt:.1f} s = "
        f"**{dbt / bound['seconds']:.1f}x** (target at 10M: 2x); its models that build the same tables "
        f"(fct_node_runs, node_run_states_*, achievement_rates_*, with their tests) {models:.1f} s = "
        f"{models / bound['seconds']:.1f}x. " + "; ".join(bound["details"])
    )


def _top_models_note(job: JobFigures) -> str:
    """Where a job's dbt time goes (what to compare between warehouses, and between a short and a long history);
    the monthly job's is in its note on issue 14's marts."""
    top = sorted(job.model_seconds.items(), key=lambda kv: -kv[1])[:6]
    return f"- **{job.job}**: dbt's costliest models with their tests: " + ", ".join(f"{m} {v:.2f} s" for m, v in top)


def _checks_note(job: JobFigures) -> str:
    """The checks stage taken apart: the landing gate's checks, dbt's data tests, the models' GX asset checks."""
    parts = ", ".join(f"{kind} {seconds:.1f} s" for kind, seconds in job.check_seconds.items())
    tests = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in job.test_seconds.items())
    return f"- **{job.job}**: checks {job.stages['checks']:.1f} s: {parts}" + (
        f"; the costliest data tests: {tests}" if tests else ""
    )


def _memory_limit() -> str:
    from orchestration.warehouse import DEFAULT_MEMORY_LIMIT, MEMORY_LIMIT_VARIABLE

    value = os.environ.get(MEMORY_LIMIT_VARIABLE)
    return f"{MEMORY_LIMIT_VARIABLE}={value}" if value else f"{DEFAULT_MEMORY_LIMIT} of RAM (the default)"


# What the targets that compare runs allow (TARGETS): one more day on DuckDB; one more day after the longest
# history against after the shortest; PostgreSQL's history against DuckDB's, the same case and history.
ONE_MORE_DAY_MAX, HISTORY_GROWTH_MAX, POSTGRES_RATIO_MAX = 5.0, 1.2, 2.0


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _seconds(values: list[float]) -> str:
    """One run's seconds, or several runs' mean with each run."""
    if len(values) == 1:
        return f"{values[0]:.1f} s"
    return f"{_mean(values):.2f} s (mean of {', '.join(f'{v:.1f}' for v in values)})"


def _verdict(met: bool) -> str:
    return "met" if met else "**NOT met**"


def side_by_side(results: list[CaseResult]) -> list[str]:
    """The targets that compare runs, from runs of the same setup (case, warehouse, instance, history length)
    averaged: one more day on DuckDB against 5 s; after the longest history against after the shortest (the
    same case, warehouse and instance), within 1.2x; PostgreSQL's history and one more day against DuckDB's
    (the same case, history and instance), within 2x. Failed runs compare nothing."""
    setups: dict[tuple[str, str, str, int], list[CaseResult]] = {}
    for r in results:
        if not r.failure and r.one_more_day is not None:
            setups.setdefault((r.case, r.warehouse, r.instance, r.days), []).append(r)
    lines, growth = [], {}
    for (case, warehouse, instance, days), runs in sorted(setups.items()):
        walls = [r.one_more_day or 0.0 for r in runs]
        growth.setdefault((case, warehouse, instance), {})[days] = walls
        if warehouse == "duckdb":
            met = _verdict(_mean(walls) <= ONE_MORE_DAY_MAX)
            lines.append(f"- one more day after {days} days of {case} history, DuckDB, instance {instance}: "
                         f"{_seconds(walls)}: {met} (<= {ONE_MORE_DAY_MAX:.0f} s)")  # fmt: skip
    for (case, warehouse, instance), by_days in sorted(growth.items()):
        if len(by_days) > 1:
            short, long = min(by_days), max(by_days)
            after_long, after_short = _mean(by_days[long]), _mean(by_days[short])
            ratio = after_long / after_short
            lines.append(f"- one more day after {long} against after {short} days of {case} history, {warehouse}, "
                         f"instance {instance}: {after_long:.2f} / {after_short:.2f} s = **{ratio:.2f}x**: "
                         f"{_verdict(ratio <= HISTORY_GROWTH_MAX)} (within {HISTORY_GROWTH_MAX}x)")  # fmt: skip
    for (case, warehouse, instance, days), runs in sorted(setups.items()):
        duckdb = setups.get((case, "duckdb", instance, days))
        if warehouse != "postgres" or not duckdb:
            continue
        history = _mean([r.history_seconds for r in runs]) / _mean([r.history_seconds for r in duckdb])
        one_more = _mean([r.one_more_day or 0.0 for r in runs]) / _mean([r.one_more_day or 0.0 for r in duckdb])
        lines.append(f"- PostgreSQL against DuckDB, {days} days of {case} history ({runs[0].node_runs:,} node runs), "
                     f"instance {instance}: history {_seconds([r.history_seconds for r in runs])} against "
                     f"{_seconds([r.history_seconds for r in duckdb])} = **{history:.2f}x**: "
                     f"{_verdict(history <= POSTGRES_RATIO_MAX)} (within {POSTGRES_RATIO_MAX:.0f}x; the target is "
                     f"at 1M node runs); one more day {one_more:.2f}x")  # fmt: skip
    return lines


def report(results: list[CaseResult], started: dt.datetime, command: str, gx: bool) -> str:
    from benchmarks.pipeline import machine_info

    out = [f"Run of {started:%Y-%m-%d %H:%M} UTC.", "", f"Command: `{command}`", "",
           *machine_info(sorted({r.warehouse for r in results})),
           f"- Great Expectations asset checks: {'on' if gx else 'off'} (COMMITMENTS_GX_CHECKS); dbt data tests always",
           f"- targets: help-desk history {TARGETS['helpdesk']}; one more day {TARGETS['one more day']}; "
           f"{TARGETS['10M']}; {TARGETS['postgres']}",
           *([f"- DuckDB's memory limit: {_memory_limit()}"] if any(r.warehouse == "duckdb" for r in results) else []),
           ""]  # fmt: skip
    for r in results:
        rows = ", ".join(f"{k} {v:,} rows" for k, v in r.source_rows.items())
        out += [f"### {r.case}, {r.range}, warehouse {r.warehouse}, Dagster instance {r.instance}", "",
                f"Sources: {rows}.", "", case_table(r), ""]  # fmt: skip
    compared = side_by_side(results)
    if compared:
        out += ["### The targets that compare runs", "", *compared, ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


@dataclass
class JobsOptions:
    case: str = "helpdesk"  # helpdesk | demo
    warehouse: str = "duckdb"  # duckdb | postgres | both
    instance: str = "sqlite"  # sqlite | postgres | both
    days: int | tuple[int, ...] = 60  # demo: closed days of history; several: each history its own case
    repeat: int = 1  # every case this many times, in turn (the comparisons average them)
    orders_per_day: int = 300  # demo
    gx: bool = True
    work_bound: bool = True  # DuckDB: the work bound after the history (benchmarks/work_bound.py)
    until: str | None = None  # help-desk case: end the range here (ISO date) instead of the whole history
    keep: bool = False
    data_dir: Path | None = None
    output: Path = PROJECT_DIR / "BENCHMARKS.md"
    no_write: bool = False
    command: str = "python -m benchmarks.jobs"


def _both(value: str, pair: tuple[str, str]) -> list[str]:
    return list(pair) if value == "both" else [value]


def run(opts: JobsOptions) -> list[CaseResult]:
    """Every history × warehouse × instance combination, `repeat` times in turn, in a child process each; prints
    and writes the report. Exits with status 2 when a job failed or partitions are not recorded as materialised."""
    started = dt.datetime.now(dt.UTC)
    root = Path(opts.data_dir or tempfile.mkdtemp(prefix="bench-jobs-"))
    results = []
    histories = [opts.days] if isinstance(opts.days, int) else list(opts.days)
    setups = [(turn, days, warehouse, instance) for turn in range(1, opts.repeat + 1) for days in histories
              for warehouse in _both(opts.warehouse, ("duckdb", "postgres"))
              for instance in _both(opts.instance, ("sqlite", "postgres"))]  # fmt: skip
    try:
        for turn, days, warehouse, instance in setups:
            name = f"{opts.case}-{warehouse}-{instance}" + (f"-{days}d" if len(histories) > 1 else "")
            scratch = root / (name + (f"-{turn}" if opts.repeat > 1 else ""))
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            child = {**asdict(opts), "days": days, "scratch": str(scratch), "data_dir": None, "output": None}
            out = scratch / "result.json"
            command = [sys.executable, "-m", "benchmarks.jobs", "--child", json.dumps(child),
                       "--child-case", f"{opts.case},{warehouse},{instance}", "--child-out", str(out)]  # fmt: skip
            print(f"[jobs] {scratch.name}: {opts.case} on {warehouse}, instance {instance} ...", flush=True)
            with (scratch / "run.log").open("w") as log:
                done = subprocess.run(command, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT)
            if done.returncode != 0 or not out.exists():
                raise SystemExit(f"the benchmark child failed (exit {done.returncode}); see {scratch / 'run.log'}")
            raw = json.loads(out.read_text())
            raw["jobs"] = [JobFigures(**{**j, "load": tuple(j["load"])}) for j in raw["jobs"]]
            results.append(CaseResult(**raw))
            print(case_table(results[-1]), flush=True)
    finally:
        if opts.data_dir is None and not opts.keep:
            shutil.rmtree(root, ignore_errors=True)
    text = report(results, started, opts.command, opts.gx)
    print(text)
    if not opts.no_write:
        from benchmarks.pipeline import write_section

        key = f"jobs {opts.case} {opts.warehouse} {opts.instance}"
        write_section(
            opts.output,
            key,
            f"Results: the Dagster jobs, {opts.case}, {opts.warehouse}, instance {opts.instance}",
            text,
        )
    if any(r.failure or not all(j.materialized_ok and j.checks_ok for j in r.jobs) for r in results) or any(
        r.work_bound and r.work_bound["seconds"] and not r.work_bound["equal"] for r in results
    ):
        raise SystemExit(2)
    return results


def _days(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(","))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=["helpdesk", "demo"], default="helpdesk")
    parser.add_argument("--warehouse", choices=["duckdb", "postgres", "both"], default="duckdb")
    parser.add_argument("--instance", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument(
        "--days",
        type=_days,
        default=(60,),
        help="demo: closed days of history; several, comma-separated (60,365), to compare one more day",
    )
    parser.add_argument("--repeat", type=int, default=1, help="run every case this many times, in turn")
    parser.add_argument("--orders-per-day", type=int, default=300)
    parser.add_argument("--no-gx", action="store_true")
    parser.add_argument("--no-work-bound", action="store_true", help="DuckDB: skip the work bound after the history")
    parser.add_argument("--until", help="help-desk case: last day of the range (default: the whole history)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--output", type=Path, default=JobsOptions.output)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-case", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        case, warehouse, instance = args.child_case.split(",")
        result = run_case(case, warehouse, instance, json.loads(args.child))
        Path(args.child_out).write_text(json.dumps(asdict(result)))
        return
    command = " ".join(["python -m benchmarks.jobs", *(sys.argv[1:] if argv is None else argv)])
    run(JobsOptions(case=args.case, warehouse=args.warehouse, instance=args.instance,
                    days=args.days[0] if len(args.days) == 1 else args.days, repeat=args.repeat,
                    orders_per_day=args.orders_per_day, gx=not args.no_gx, work_bound=not args.no_work_bound,
                    until=args.until, keep=args.keep,
                    data_dir=args.data_dir, output=args.output, no_write=args.no_write,
                    command=command))  # fmt: skip


if __name__ == "__main__":
    main()
