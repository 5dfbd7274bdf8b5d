"""The benchmark: demo sources of about N node runs, timed stage by stage from the sources to every mart.

    commitments benchmark pipeline [--runs 1000000] [--days 60] [--warehouse duckdb|postgres|both]
                                      [--clock config|wall|business]
                                      [--now 2026-11-30T16:00:00Z]
                                      [--data-dir DIR] [--history-factors 1,2] [--repeat 3] [--keep]
                                      [--output BENCHMARKS.md | --no-write]

For each history length (--days times each of --history-factors, same orders per day, so one day holds
the same volume whatever the history) it generates the three demo systems (OA database, settlement
drops, ticket API) into a scratch data dir and, per warehouse, in a fresh DuckDB file or a fresh
PostgreSQL schema (dropped afterwards with its _landing schema):

1. extract (read + normalise) and load (land) each source over the whole range, as one window;
2. load_reference, then the four dbt builds as Dagster runs them (reference; daily over the whole
   range as ONE invocation; weekly and monthly over their whole weeks and months), with per-model
   times from run_results.json and row counts from the warehouse;
3. the incremental cost of one more day: re-extract and land the last day, then the daily build for
   that one day;
4. the same day-by-day classification as a plain pandas script over the generated truth, as a yardstick
   and as a cross-check of node_run_states_daily (a mismatch is printed loudly; it is not a test);
5. on DuckDB, the work bound (benchmarks/work_bound.py): the transformation as one hand-written script
   from the landed tables, timed, compared with the marts, and reported as the ratio of the dbt stage to it.

It prints markdown tables and writes them into a section of BENCHMARKS.md (replaced on a rerun with
the same warehouses, runs and days). Dagster itself is not involved: the stages are the functions and
dbt commands the assets call, so orchestration overhead is not measured. dbt runs on a copy of
dbt_project taken at the start, so edits made during a long run cannot mix two versions of the models.
Exit status 2 when a cross-check mismatches or a dbt build fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.servers import PG_DEFAULTS
from benchmarks.work_bound import WorkBound, period_windows, work_bound
from orchestration.dbt_project import BASE_MODELS, PERIOD_TAGS, REFERENCE_EXCLUDE
from orchestration.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR, PROJECT_DIR, Settings

CONFIG_DIR = PROJECT_DIR / "config"
# The copy of dbt_project the run builds with (copy_dbt_project), so edits during a run cannot mix versions.
DBT_PROJECT = {"dir": DBT_PROJECT_DIR}

DEMO_SOURCES = ("oa_workflow", "settlement_files", "ticket_api")
TARGET_SECONDS = 60.0  # 1M node runs from sources to all marts on DuckDB, 2 cores
WAREHOUSE_NAMES = {"duckdb": "DuckDB", "postgres": "PostgreSQL"}
STATES = (
    "completed_normal", "completed_acceptable", "completed_warning",
    "in_progress_normal", "in_progress_acceptable", "in_progress_warning", "cancelled", "no_commitment",
)  # fmt: skip
# The dbt selections of orchestration/assets/dbt.py (reference = everything else).
REFERENCE_SELECTION = ("fqn:*", REFERENCE_EXCLUDE)
DAILY_SELECTION = f"{BASE_MODELS} {PERIOD_TAGS['day']}"
# --clock: the project's commitments as configured, all on the wall clock, or all on this calendar.
BUSINESS_CALENDAR = "cn_office"


# --------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------


@dataclass
class Line:
    """One line of a result table: a stage, or (level 1) a model or the tests inside a dbt build."""

    key: str
    label: str
    seconds: float
    rows: int | None = None
    level: int = 0
    counted: bool = False  # part of the sources -> marts total


@dataclass
class DbtBuild:
    wall: float
    models: list[tuple[str, str, float]]  # (name, materialization, execution_time)
    tests: dict[str, tuple[int, float]]  # tested model -> (number of tests, seconds)
    other_seconds: float  # seeds, snapshots, unattached tests
    startup: float = 0.0  # process start to dbt's first log line (imports)
    parse: float = 0.0  # first log line to "Found N models" (a full parse whenever --vars change)
    full_parse: bool = False
    node_span: float = 0.0  # first node start to last node end (nodes overlap when threads > 1)


@dataclass
class WarehouseRun:
    target: str
    lines: list[Line] = field(default_factory=list)
    incremental: dict[str, float] = field(default_factory=dict)
    node_runs: int = 0
    cpu: str = ""
    mismatches: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    incremental_error: str | None = None
    incremental_spread: tuple[float, float, int] | None = None  # min, max of the one-day total; samples
    work_bound: WorkBound | None = None  # benchmarks/work_bound.py, DuckDB only

    def add(self, line: Line) -> Line:
        self.lines.append(line)
        return line

    @property
    def total(self) -> float:
        return sum(line.seconds for line in self.lines if line.counted)


@dataclass
class World:
    """The demo systems generated for one history length."""

    days: int
    first: dt.date
    last: dt.date
    directory: Path
    truth_runs: int
    visible_runs: int  # started before the end of the last day: one starting exactly at it lands in the next
    orders_per_day: int
    generate_seconds: float
    write_seconds: float
    source_rows: dict[str, int]
    pandas_seconds: float = 0.0
    pandas_rows: int = 0
    pandas_counts: pd.DataFrame | None = None  # index period_start_date, columns STATES
    runs: list[WarehouseRun] = field(default_factory=list)


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    began = time.perf_counter()
    done: list[float] = []
    yield lambda: done[0] if done else time.perf_counter() - began
    done.append(time.perf_counter() - began)


class CpuMeter:
    """Machine-wide busy CPU time against this process's own (with its waited-for children, i.e. dbt):
    the difference is the database server plus whatever else runs on the machine."""

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.machine = _machine_busy_seconds()
        self.own = _own_cpu_seconds()
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(5.0):
            self.loads.append(os.getloadavg()[0])

    def report(self) -> str:
        self._stop.set()
        wall = time.perf_counter() - self.began
        machine = _machine_busy_seconds() - self.machine
        own = _own_cpu_seconds() - self.own
        loads = self.loads or [os.getloadavg()[0]]
        # ru_maxrss is in KiB on Linux: the peak of this process, and of the largest waited-for child (dbt).
        own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
        child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        return (
            f"{wall:.0f} s wall; CPU busy {machine:.0f} core-s machine-wide, {own:.0f} core-s in the benchmark "
            f"and its dbt processes, {max(machine - own, 0):.0f} core-s elsewhere (database server, other jobs); "
            f"1-min load {min(loads):.1f}-{max(loads):.1f}; peak memory so far {own_peak:.1f} GiB in the "
            f"benchmark process (DuckDB runs inside it for extract/load), {child_peak:.1f} GiB in a dbt process"
        )


def _machine_busy_seconds() -> float:
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# --------------------------------------------------------------------------------------------------
# Demo sources
# --------------------------------------------------------------------------------------------------


def business_midnight_today(now: dt.datetime | None = None) -> dt.datetime:
    """Start of today (of `now`'s day) in the business zone, as a UTC instant: the end of the last closed day.

    By default the demo systems are generated as seen at this instant. Events exactly at it (a run
    starting, ending or cancelled at 00:00:00) belong to today (SEMANTICS.md "State as of an instant T"):
    the last closed day judges those runs in progress, World.visible_runs leaves out the runs that start
    at it, and the ticket API's event at it is today's (written to the store, not received for the range)."""
    tz = Settings.load().business_time_zone
    today = (now or dt.datetime.now(dt.UTC)).astimezone(tz).date()
    return dt.datetime(today.year, today.month, today.day, tzinfo=tz).astimezone(dt.UTC)


def parse_now(text: str) -> dt.datetime:
    """--now: an ISO instant (naive = UTC; `Z` or an offset accepted), to whole seconds like the demo."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    moment = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return moment.replace(microsecond=0)


def use_clock(scratch: Path, clock: str) -> None:
    """Judge by the project's commitments as configured, or by the same limits all on the wall clock or
    all on the business calendar (so the two figures differ in the clock alone)."""
    if clock == "config":
        return
    import yaml

    raw = yaml.safe_load((CONFIG_DIR / "commitments.yaml").read_text(encoding="utf-8"))
    for entry in raw["commitments"]:
        entry["clock"] = "wall" if clock == "wall" else BUSINESS_CALENDAR
    path = scratch / "commitments.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    os.environ["COMMITMENTS_FILE"] = str(path)


def use_demo_sources(scratch: Path) -> Path:
    """Copies of the three demo declarations (not the helpdesk) in a directory of their own."""
    directory = scratch / "sources_config"
    directory.mkdir(parents=True, exist_ok=True)
    for name in DEMO_SOURCES:
        shutil.copy(CONFIG_DIR / "sources" / f"{name}.yaml", directory / f"{name}.yaml")
    os.environ["COMMITMENTS_SOURCES_DIR"] = str(directory)
    return directory


def generate_world(
    root: Path, days: int, now: dt.datetime, orders_per_day: int, seed: int
) -> tuple[World, pd.DataFrame]:
    """Generate and write the three demo systems for the `days` closed days before `now`'s business day
    (seen at `now`, which may be later than that day's start). Returns the world (the truth kept in
    memory for the pandas yardstick) and its truth frame."""
    from demo.generator import generate_truth, write_sources

    first = (now.astimezone(Settings.load().business_time_zone) - dt.timedelta(days=days)).date()
    last = first + dt.timedelta(days=days - 1)
    directory = root / f"history-{days}d"
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["COMMITMENTS_DATA_DIR"] = str(directory)
    os.environ["OA_DB_URL"] = f"sqlite:///{directory / 'sources' / 'oa_workflow.sqlite'}"
    with timed() as generate:
        truth = generate_truth(first, now, orders_per_day, seed=seed)
    with timed() as write:
        counts = write_sources(truth, directory, now, start=first)
    world = World(
        days=days,
        first=first,
        last=last,
        directory=directory,
        truth_runs=len(truth),
        visible_runs=int((truth["start_at"] < pd.Timestamp(business_midnight_today(now))).sum()),
        orders_per_day=orders_per_day,
        generate_seconds=generate(),
        write_seconds=write(),
        source_rows=counts,
    )
    keep = ["process_code", "node_code", "segment", "start_at", "end_at", "cancelled_at"]
    return world, truth[keep]


def snapshot_dbt_project(root: Path) -> str:
    """Copy dbt_project (without its target/logs) into the scratch dir and run dbt from there, so that
    edits made while the benchmark runs cannot mix two versions of the models. Returns a content hash."""
    copy = root / "dbt_project"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    digest = hashlib.sha256()
    for path in sorted(p for p in copy.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(copy)).encode() + b"\0" + path.read_bytes())
    DBT_PROJECT["dir"] = copy
    return digest.hexdigest()[:12]


# --------------------------------------------------------------------------------------------------
# The pandas yardstick
# --------------------------------------------------------------------------------------------------

_NEVER = np.iinfo(np.int64).max


def _epoch(values: pd.Series) -> np.ndarray:
    """Instants as int64 epoch seconds (naive = UTC); NaT becomes 'never'."""
    if not pd.api.types.is_datetime64_any_dtype(values):
        values = pd.to_datetime(values)
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    seconds = values.astype("datetime64[s]").to_numpy().view(np.int64).copy()
    seconds[values.isna().to_numpy()] = _NEVER
    return seconds


def _version_in_force(runs: pd.DataFrame, versions: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per run (index kept), the version of `by` with valid_from <= start_at < valid_to, or NaN."""
    left = runs[[*by, "start_s"]].reset_index().sort_values("start_s", kind="stable")
    right = versions[[*by, "from_s", "to_s", "commitment_seconds", "tolerance_seconds", "clock"]].sort_values("from_s")
    merged = pd.merge_asof(left, right, left_on="start_s", right_on="from_s", by=by, direction="backward")
    expired = merged["to_s"].notna() & (merged["start_s"] >= merged["to_s"])
    merged.loc[expired, ["commitment_seconds", "tolerance_seconds", "clock"]] = np.nan
    return merged.set_index("index")[["commitment_seconds", "tolerance_seconds", "clock"]].reindex(runs.index)


class ClockReadings:
    """Readings of each run's clock, the way one would compute them in numpy: the wall clock reads epoch
    seconds; a business calendar version reads its working time by a search over its sorted working
    intervals (orchestration.calendars.working_time_reader), independent of the warehouse's day table."""

    def __init__(self, clocks: pd.Series, start: np.ndarray, first: dt.date) -> None:
        from orchestration.reference.calendars import load_calendars, working_time_reader

        first = first - dt.timedelta(days=400)  # runs may start before the first day
        self.groups: list[tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]] = []  # (reader, run mask)
        clock = clocks.fillna("wall").to_numpy()
        for name, versions in load_calendars(first, Settings.load().calendars_file).items():
            for v in versions:
                valid_to = _epoch(pd.Series([v.valid_to]))[0] if v.valid_to else _NEVER
                mask = (clock == name) & (start >= _epoch(pd.Series([v.valid_from]))[0]) & (start < valid_to)
                if mask.any():
                    self.groups.append((working_time_reader(v, first), mask))

    def read(self, instants: np.ndarray) -> np.ndarray:
        """Per run, its clock's reading at its instant; wall-clock runs keep the instant."""
        out = instants.astype("float64")
        for reader, mask in self.groups:
            out[mask] = reader(np.minimum(instants[mask], _NEVER // 2))
        return out

    def read_all(self, instant: int, n: int) -> np.ndarray:
        """Per run, its clock's reading at one instant shared by all (a period's as_of)."""
        out = np.full(n, float(instant))
        for reader, mask in self.groups:
            out[mask] = reader(np.array([instant]))[0]
        return out


def classify_with_pandas(truth: pd.DataFrame, first: dt.date, last: dt.date) -> tuple[pd.DataFrame, int]:
    """SEMANTICS.md "Periods" and "State as of an instant T" for each closed day, as one would write it
    in pandas: the commitment in force at each run's start (merge_asof on its segment, then on '*'),
    then one vectorised mask per day. Returns (state counts per day, in-scope rows)."""
    from orchestration.reference.publish import reference_frames

    commitments = reference_frames(Settings.load())["commitments"]
    commitments = commitments[commitments["node_code"] != "*"].assign(
        from_s=lambda c: _epoch(c["valid_from"]),
        to_s=lambda c: pd.Series(_epoch(c["valid_to"]), index=c.index).where(c["valid_to"].notna()),
    )
    runs = pd.DataFrame(
        {
            "process_code": truth["process_code"].astype(str),
            "node_code": truth["node_code"].astype(str),
            "segment": truth["segment"].astype(str),
            "start_s": _epoch(truth["start_at"]),
        }
    )
    own = _version_in_force(runs, commitments[commitments["segment"] != "*"], ["process_code", "node_code", "segment"])
    fallback = _version_in_force(runs, commitments[commitments["segment"] == "*"], ["process_code", "node_code"])
    limits = own.fillna(fallback)
    clocks = ClockReadings(limits["clock"], runs["start_s"].to_numpy(), first)
    commitment = limits["commitment_seconds"].to_numpy()
    tolerance = limits["tolerance_seconds"].to_numpy()
    no_commitment = np.isnan(commitment)

    start = runs["start_s"].to_numpy()
    end = _epoch(truth["end_at"])
    cancel = _epoch(truth["cancelled_at"])
    stop = np.minimum(end, cancel)
    start_reading, end_reading = clocks.read(start), clocks.read(end)
    tz = Settings.load().business_time_zone.key
    local = pd.date_range(first, last + dt.timedelta(days=1), freq="D").tz_localize(tz)
    bounds = _epoch(pd.Series(local.tz_convert("UTC")))

    counts = np.zeros((len(bounds) - 1, len(STATES)), dtype=np.int64)
    for i in range(len(bounds) - 1):
        period_start, as_of = bounds[i], bounds[i + 1]  # closed days: as_of = period end
        # In scope: started before as_of, neither ended nor cancelled before the day began.
        scope = (start < as_of) & (stop >= period_start)
        e, c = end[scope], cancel[scope]
        limit, tol, none = commitment[scope], tolerance[scope], no_commitment[scope]
        cancelled = c < as_of
        completed = ~cancelled & (e < as_of)
        as_of_reading = clocks.read_all(as_of, len(start))[scope]
        run_seconds = np.where(completed, end_reading[scope], as_of_reading) - start_reading[scope]
        band = np.where(run_seconds <= limit, 0, np.where(run_seconds <= tol, 1, 2))
        state = np.where(cancelled, 6, np.where(none, 7, np.where(completed, band, 3 + band)))
        counts[i] = np.bincount(state, minlength=len(STATES))
    days = pd.date_range(first, last, freq="D").date
    frame = pd.DataFrame(counts, index=pd.Index(days, name="period_start_date"), columns=list(STATES))
    return frame, int(counts.sum())


# --------------------------------------------------------------------------------------------------
# dbt
# --------------------------------------------------------------------------------------------------


def run_dbt(
    scratch: Path, label: str, select: str, exclude: str | None = None, dbt_vars: dict | None = None
) -> DbtBuild:
    """`dbt build` as a subprocess in the current environment, into a scratch target path."""
    dbt_project = DBT_PROJECT["dir"]
    target = scratch / "target"
    command = [
        DBT_EXECUTABLE, "build",
        "--project-dir", str(dbt_project), "--profiles-dir", str(dbt_project),
        "--target-path", str(target), "--log-path", str(scratch / "logs" / label),
        "--select", select,
    ]  # fmt: skip
    if exclude:
        command += ["--exclude", exclude]
    if dbt_vars:
        command += ["--vars", json.dumps(dbt_vars)]
    output = scratch / f"{label}.out"
    launched = dt.datetime.now()
    with timed() as wall, output.open("w") as out:
        process = subprocess.run(command, env=os.environ.copy(), cwd=dbt_project, stdout=out, stderr=out)
    if process.returncode != 0:
        raise DbtFailed(f"dbt {label} failed (exit {process.returncode}): {_failure_summary(output)} (log: {output})")
    manifest = json.loads((target / "manifest.json").read_text())["nodes"]
    results = json.loads((target / "run_results.json").read_text())["results"]
    instants = [
        dt.datetime.fromisoformat(t[key].replace("Z", "+00:00"))
        for r in results
        for t in r.get("timing", [])
        for key in ("started_at", "completed_at")
        if t.get(key)
    ]
    span = (max(instants) - min(instants)).total_seconds() if instants else 0.0
    models: list[tuple[str, str, float]] = []
    tests: dict[str, tuple[int, float]] = {}
    other = 0.0
    for r in results:
        node = manifest.get(r["unique_id"], {})
        seconds = float(r.get("execution_time") or 0.0)
        if node.get("resource_type") == "model":
            models.append((node["name"], node["config"]["materialized"], seconds))
        elif node.get("resource_type") == "test":
            attached = node.get("attached_node") or (node.get("depends_on", {}).get("nodes") or [""])[-1]
            name = manifest.get(attached, {}).get("name", "(other)")
            n, total = tests.get(name, (0, 0.0))
            tests[name] = (n + 1, total + seconds)
        else:
            other += seconds
    build = DbtBuild(wall(), models, tests, other, node_span=span)
    _phases_from_log(build, scratch / "logs" / label / "dbt.log", launched)
    return build


class DbtFailed(RuntimeError):
    pass


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failure_summary(output: Path) -> str:
    """The salient lines of a failed dbt run: which node failed and why (the line after each error)."""
    lines = [_ANSI.sub("", line).strip() for line in output.read_text(errors="replace").splitlines()]
    lines = [line for line in (re.sub(r"^\d\d:\d\d:\d\d\s+", "", line) for line in lines) if line]
    keep: list[str] = []
    for i, line in enumerate(lines):
        if re.match(r"(Failure|Error) in |(Compilation|Database|Runtime) Error|New column types", line):
            keep.append(line)
            if "Error in" in line and i + 1 < len(lines):
                keep.append(lines[i + 1])
    return " / ".join(dict.fromkeys(keep)) or " / ".join(lines[-5:])


_LOG_TIME = re.compile(r"(\d\d):(\d\d):(\d\d\.\d+) \[")


def _phases_from_log(build: DbtBuild, log: Path, launched: dt.datetime) -> None:
    """Start-up and parse time from dbt's debug log (local wall-clock times of day, like `launched`)."""
    began = launched.hour * 3600 + launched.minute * 60 + launched.second + launched.microsecond / 1e6
    first = found = None
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        match = _LOG_TIME.search(line[:40])
        if match is None:
            continue
        at = int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))
        at += 86400 if at < began - 3600 else 0  # past midnight
        if first is None and "running dbt with arguments" in line:
            first = at
        if "Unable to do partial parsing" in line:
            build.full_parse = True
        if first is not None and re.search(r"\]: Found \d+ models", line):
            found = at
            break
    if first is not None and found is not None:
        build.startup, build.parse = max(first - began, 0.0), found - first


def record_dbt(
    run: WarehouseRun, key: str, label: str, build: DbtBuild, counts: dict[str, int], counted: bool = True
) -> None:
    run.add(Line(key, label, build.wall, counted=counted))
    views = [(n, t) for n, m, t in build.models if m in ("view", "ephemeral")]
    if views:
        run.add(Line(f"{key}/views", f"{len(views)} views", sum(t for _, t in views), level=1))
    for name, materialized, seconds in build.models:
        if materialized not in ("view", "ephemeral"):
            run.add(Line(f"{key}/{name}", name, seconds, counts.get(name), level=1))
    n_tests = sum(n for n, _ in build.tests.values())
    if n_tests:
        run.add(Line(f"{key}/tests", f"{n_tests} data tests", sum(s for _, s in build.tests.values()), level=1))
    run.add(Line(f"{key}/startup", "dbt process start-up", build.startup, level=1))
    parse = "dbt parse (full: --vars changed)" if build.full_parse else "dbt parse"
    run.add(Line(f"{key}/parse", parse, build.parse, level=1))
    rest = max(build.wall - build.node_span - build.startup - build.parse, 0.0)
    run.add(Line(f"{key}/rest", "dbt other (relation cache, artefacts, exit)", rest, level=1))


# --------------------------------------------------------------------------------------------------
# One warehouse
# --------------------------------------------------------------------------------------------------


def _set_warehouse_env(target: str, schema: str, directory: Path) -> None:
    os.environ["WAREHOUSE_TARGET"] = target
    os.environ["WAREHOUSE_SCHEMA"] = schema
    os.environ["WAREHOUSE_DUCKDB_PATH"] = str(directory / f"warehouse-{schema}.duckdb")
    if target == "postgres":
        for name, value in PG_DEFAULTS.items():
            os.environ.setdefault(name, value)


def _drop_pg_schemas(warehouse) -> None:
    with warehouse.connect() as conn:
        cur = conn.cursor()
        for name in warehouse.schemas:
            cur.execute(f"drop schema if exists {name} cascade")


def _table_counts(warehouse, schema: str, names: list[str], where: dict[str, str] | None = None) -> dict[str, int]:
    counts = {}
    for name in names:
        condition = f" where {where[name]}" if where and name in where else ""
        counts[name] = int(warehouse.query(f"select count(*) as n from {schema}.{name}{condition}").iloc[0, 0])
    return counts


def _tables(build: DbtBuild) -> list[str]:
    return [name for name, materialized, _ in build.models if materialized not in ("view", "ephemeral")]


def _daily_state_counts(warehouse, schema: str) -> pd.DataFrame:
    frame = warehouse.query(
        f"select period_start_date, state, count(*) as n from {schema}.node_run_states_daily group by 1, 2"
    )
    frame["period_start_date"] = pd.to_datetime(frame["period_start_date"]).dt.date
    table = frame.pivot_table(index="period_start_date", columns="state", values="n", aggfunc="sum", fill_value=0)
    return table.reindex(columns=list(STATES), fill_value=0).astype(np.int64)


def cross_check(
    world: World, run: WarehouseRun, warehouse_counts: pd.DataFrame, days: list[dt.date], when: str
) -> None:
    """The pandas counts per day and state must equal node_run_states_daily's: loud on any difference."""
    assert world.pandas_counts is not None
    expected = world.pandas_counts.loc[days]
    got = warehouse_counts.reindex(index=days, fill_value=0)
    diff = got - expected
    bad = diff[(diff != 0).any(axis=1)]
    name = WAREHOUSE_NAMES[run.target]
    if bad.empty:
        print(f"    cross-check {when}: pandas == {name} node_run_states_daily on {len(days)} day(s)", flush=True)
        return
    message = (
        f"MISMATCH {when}: {name} node_run_states_daily differs from the pandas classification on "
        f"{len(bad)} of {len(days)} day(s); first days (warehouse - pandas):\n{bad.head(5).to_string()}"
    )
    _mismatch(run, message)


def _loud(message: str) -> None:
    print("\n" + "!" * 100 + f"\n{message}\n" + "!" * 100 + "\n", flush=True)


def _mismatch(run: WarehouseRun, message: str) -> None:
    run.mismatches.append(message)
    _loud(message)


def _fail(run: WarehouseRun, message: str) -> None:
    run.failures.append(message)
    _loud(f"FAILED on {WAREHOUSE_NAMES[run.target]}: {message}")


# The data-quality checks the Dagster assets run (orchestration/quality): on unless --no-checks.
CHECKS = {"on": True}


def _model_checks(warehouse, models: list[str], first: dt.date, end: dt.date) -> None:
    """What the GX asset checks on the dbt models validate after a build of the window [first, end)."""
    from orchestration.periods import Window
    from orchestration.quality.gx import GreatExpectations
    from orchestration.quality.model_checks import window_rows

    settings = Settings.load()
    window = Window.for_days(first, end - dt.timedelta(days=1), settings.business_time_zone)
    for model in models:
        suite = model if model == "fct_node_runs" else model.rsplit("_", 1)[0]
        GreatExpectations.from_settings(settings).validate(
            warehouse, suite, f"{warehouse.schema_name}.{model}", window_rows(model, window), batch=model
        )


_GRAIN_MODELS = {
    grain: [f"{m}_{grain}" for m in ("node_run_states", "work_order_status", "achievement_rates")]
    for grain in ("daily", "weekly", "monthly")
}


def bench_warehouse(target: str, world: World, now: dt.datetime, keep: bool, repeat: int) -> WarehouseRun:
    from orchestration.periods import PeriodRange, Window
    from orchestration.quality.gate import extract_and_check
    from orchestration.quality.gx import GreatExpectations
    from orchestration.reference.catalogue import load_catalogue
    from orchestration.reference.publish import load_reference
    from orchestration.sources.config import load_source
    from orchestration.warehouse import Warehouse

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    scratch = world.directory / f"dbt-{target}-{schema}"
    scratch.mkdir(parents=True)
    _set_warehouse_env(target, schema, world.directory)
    settings = Settings.load()
    warehouse = Warehouse.from_settings(settings)
    run = WarehouseRun(target)
    meter = CpuMeter()
    name = WAREHOUSE_NAMES[target]
    print(f"\n== {name}: {world.days} days {world.first}...{world.last}, schema {schema}", flush=True)
    configs = [load_source(settings.sources_dir / f"{n}.yaml", settings) for n in DEMO_SOURCES]
    cap = now.strftime("%Y-%m-%d %H:%M:%S")
    periods = PeriodRange(world.first, world.last)
    try:
        if target == "postgres":
            _drop_pg_schemas(warehouse)
        catalogue = load_catalogue(settings.processes_file)
        window = Window.for_days(world.first, world.last, settings.business_time_zone)
        gx = GreatExpectations.from_settings(settings) if CHECKS["on"] else None
        for cfg in configs:
            # The gate the extraction asset runs: extract, land, then the checks (reconcile, quarantine
            # share, freshness; the GX suite with checks on).
            gate = extract_and_check(warehouse, cfg, window, catalogue, gx)
            result, spent = gate.extract, gate.seconds
            label = f"extract {cfg.name} ({cfg.kind})"
            run.add(Line(f"extract/{cfg.name}", label, spent["extract"], result.received, counted=True))
            run.add(Line(f"load/{cfg.name}", f"load {cfg.name}", spent["land"], result.accepted, counted=True))
            print(f"  {cfg.name}: {result.received:,} received, {result.accepted:,} accepted", flush=True)
            if CHECKS["on"]:
                label = f"checks {cfg.name}: reconcile, quarantine share, freshness, GX suite"
                run.add(Line(f"check/{cfg.name}", label, spent["checks"], result.accepted, counted=True))
            del result, gate
        with timed() as seconds:
            reference = load_reference(warehouse, settings)
        run.add(Line("load_reference", "load_reference", seconds(), sum(reference.values()), counted=True))

        build = run_dbt(scratch, "reference", REFERENCE_SELECTION[0], exclude=REFERENCE_SELECTION[1])
        record_dbt(
            run, "dbt/reference", "dbt build: reference", build, _table_counts(warehouse, schema, _tables(build))
        )
        print(f"  dbt reference {build.wall:.1f} s", flush=True)

        day_window = {
            "window_start": world.first.isoformat(),
            "window_end": (world.last + dt.timedelta(days=1)).isoformat(),
        }
        build = run_dbt(scratch, "daily", DAILY_SELECTION, dbt_vars={**day_window, "as_of_cap": cap})
        counts = _table_counts(warehouse, schema, _tables(build))
        run.node_runs = counts.get("fct_node_runs", 0)
        if run.node_runs != world.visible_runs:
            _mismatch(
                run,
                f"MISMATCH: fct_node_runs has {run.node_runs:,} runs, the truth {world.visible_runs:,} "
                "started before the end of the last closed day",
            )
        record_dbt(run, "dbt/daily", f"dbt build: daily, {world.days} days in one invocation", build, counts)
        print(f"  dbt daily {build.wall:.1f} s, fct_node_runs {run.node_runs:,}", flush=True)
        if CHECKS["on"]:
            with timed() as seconds:
                _model_checks(
                    warehouse,
                    ["fct_node_runs", *_GRAIN_MODELS["daily"]],
                    world.first,
                    world.last + dt.timedelta(days=1),
                )
            run.add(
                Line("check/daily", "GX suites: fct_node_runs, daily marts", seconds(), run.node_runs, counted=True)
            )

        windows = period_windows(periods)
        for grain in ("week", "month"):
            if grain not in windows:
                continue
            first, last_end = windows[grain]
            dbt_vars = {"window_start": first.isoformat(), "window_end": last_end.isoformat(), "as_of_cap": cap}
            build = run_dbt(scratch, f"{grain}ly", PERIOD_TAGS[grain], dbt_vars=dbt_vars)
            label = f"dbt build: {grain}ly, {first}...{last_end - dt.timedelta(days=1)}"
            record_dbt(run, f"dbt/{grain}ly", label, build, _table_counts(warehouse, schema, _tables(build)))
            print(f"  dbt {grain}ly {build.wall:.1f} s", flush=True)
            if CHECKS["on"]:
                with timed() as seconds:
                    _model_checks(warehouse, _GRAIN_MODELS[f"{grain}ly"], first, last_end)
                run.add(Line(f"check/{grain}ly", f"GX suites: {grain}ly marts", seconds(), None, counted=True))

        if target == "duckdb":
            with warehouse.connect() as conn:
                run.work_bound = work_bound(conn, schema, windows, cap)
            print(f"  work bound {run.work_bound.seconds:.1f} s: {'; '.join(run.work_bound.details)}", flush=True)
            if not run.work_bound.equal:
                _mismatch(run, "MISMATCH: the work bound differs from the marts: " + "; ".join(run.work_bound.details))
        all_days = list(pd.date_range(world.first, world.last, freq="D").date)
        cross_check(world, run, _daily_state_counts(warehouse, schema), all_days, "after the range build")

        _one_more_day(run, world, configs, catalogue, warehouse, schema, scratch, cap, repeat)
    except DbtFailed as exc:
        _fail(run, str(exc))
    finally:
        run.cpu = meter.report()
        if target == "postgres" and not keep:
            _drop_pg_schemas(warehouse)
        elif target == "duckdb" and not keep:
            Path(os.environ["WAREHOUSE_DUCKDB_PATH"]).unlink(missing_ok=True)
    return run


def _one_more_day(run, world, configs, catalogue, warehouse, schema: str, scratch: Path, cap: str, repeat: int) -> None:
    """One more day on top of the history: what a daily schedule pays. Re-extract and land the last
    day, then the daily build for that day alone; `repeat` times (idempotent), medians reported."""
    from orchestration.periods import Window
    from orchestration.quality.gate import extract_and_check
    from orchestration.quality.gx import GreatExpectations

    settings = Settings.load()
    one_day = Window.for_days(world.last, world.last, settings.business_time_zone)
    gx = GreatExpectations.from_settings(settings) if CHECKS["on"] else None
    next_day = (world.last + dt.timedelta(days=1)).isoformat()
    one_day_vars = {"window_start": world.last.isoformat(), "window_end": next_day, "as_of_cap": cap}
    samples: list[dict[str, float]] = []
    for attempt in range(1, repeat + 1):
        sample: dict[str, float] = {}
        try:
            gates = [extract_and_check(warehouse, cfg, one_day, catalogue, gx) for cfg in configs]
            sample["extract+load"] = sum(g.seconds["extract"] + g.seconds["land"] for g in gates)
            landing_checks = sum(g.seconds["checks"] for g in gates)
            # A daily schedule passes a new window every day, so dbt re-parses in full each time; the
            # repeats reuse the same --vars and would get a partial parse: make them pay the full one.
            (scratch / "target" / "partial_parse.msgpack").unlink(missing_ok=True)
            build = run_dbt(scratch, f"daily-one-day-{attempt}", DAILY_SELECTION, dbt_vars=one_day_vars)
        except DbtFailed as exc:
            run.incremental.update(sample)
            run.incremental_error = str(exc)
            _fail(run, f"one more day: {exc}")
            return
        sample["dbt wall"] = build.wall
        sample["dbt fixed"] = build.startup + build.parse
        sample.update({name: seconds for name, m, seconds in build.models if m not in ("view", "ephemeral")})
        sample["tests"] = sum(s for _, s in build.tests.values())
        sample["tests on fct_node_runs"] = build.tests.get("fct_node_runs", (0, 0.0))[1]
        sample["checks"] = 0.0
        if CHECKS["on"]:
            with timed() as seconds:
                _model_checks(
                    warehouse, ["fct_node_runs", *_GRAIN_MODELS["daily"]], world.last, world.last + dt.timedelta(days=1)
                )
            sample["checks"] = landing_checks + seconds()
        sample["total"] = sample["extract+load"] + sample["dbt wall"] + sample["checks"]
        samples.append(sample)
        print(
            f"  one more day #{attempt}: extract+load {sample['extract+load']:.1f} s, dbt {build.wall:.1f} s",
            flush=True,
        )
    run.incremental = {key: float(np.median([s[key] for s in samples])) for key in samples[0]}
    totals = [s["total"] for s in samples]
    run.incremental_spread = (min(totals), max(totals), len(totals))
    cross_check(world, run, _daily_state_counts(warehouse, schema), [world.last], "after the one-day rebuild")


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------


def _rate(rows: int | None, seconds: float) -> str:
    if rows is None or seconds <= 0:
        return ""
    return f"{rows / seconds:,.0f}"


def _rows(rows: int | None) -> str:
    return "" if rows is None else f"{rows:,}"


def world_table(world: World) -> str:
    runs = world.runs
    header = "| stage | rows |" + "".join(f" {WAREHOUSE_NAMES[r.target]} s | rows/s |" for r in runs)
    lines = [header, "|---|--:|" + "--:|--:|" * len(runs)]
    keys: list[str] = []
    for r in runs:
        keys += [line.key for line in r.lines if line.key not in keys]
    for key in keys:
        found = [next((line for line in r.lines if line.key == key), None) for r in runs]
        first = next(line for line in found if line is not None)
        label = ("&nbsp;&nbsp;&nbsp;&nbsp;" * first.level) + first.label
        cells = "".join(
            " |  |" if line is None else f" {line.seconds:.2f} | {_rate(line.rows, line.seconds)} |" for line in found
        )
        row_values = {line.rows for line in found if line is not None}
        rows = " / ".join(_rows(v) for v in sorted(row_values, key=lambda v: -1 if v is None else v))
        lines.append(f"| {label} | {rows} |{cells}")
    totals = "".join(f" **{r.total:.1f}** | {_rate(r.node_runs, r.total)} |" for r in runs)
    lines.append(f"| **sources → all marts** (node runs) | {_rows(runs[0].node_runs) if runs else ''} |{totals}")
    return "\n".join(lines)


INCREMENTAL_COLUMNS = (
    ("extract+load", "extract+land last day"),
    ("dbt wall", "dbt daily build, 1-day window"),
    ("dbt fixed", "of which dbt start-up + parse"),
    ("fct_node_runs", "fct_node_runs"),
    ("node_run_states_daily", "node_run_states_daily"),
    ("work_order_status_daily", "work_order_status_daily"),
    ("achievement_rates_daily", "achievement_rates_daily"),
    ("tests", "its data tests"),
    ("tests on fct_node_runs", "of which on fct_node_runs"),
)


def incremental_table(worlds: list[World]) -> str:
    lines = [
        "| warehouse | history | node runs | "
        + " | ".join(label for _, label in INCREMENTAL_COLUMNS)
        + " | one day total (min-max) |",
        "|---|--:|--:|" + "--:|" * (len(INCREMENTAL_COLUMNS) + 1),
    ]
    for target in dict.fromkeys(r.target for w in worlds for r in w.runs):
        for world in worlds:
            for r in world.runs:
                if r.target != target:
                    continue
                if "dbt wall" not in r.incremental:
                    if r.incremental_error:
                        done = f"{r.incremental['extract+load']:.2f}" if "extract+load" in r.incremental else ""
                        failed = "**failed**, see below" + " |" * (len(INCREMENTAL_COLUMNS) - 1)
                        lines.append(
                            f"| {WAREHOUSE_NAMES[target]} | {world.days} days | {r.node_runs:,} | {done} | {failed} |"
                        )
                    continue
                cells = " | ".join(
                    f"{r.incremental[k]:.2f}" if k in r.incremental else "" for k, _ in INCREMENTAL_COLUMNS
                )
                total = f"**{r.incremental['total']:.1f}**"
                if r.incremental_spread and r.incremental_spread[2] > 1:
                    low, high, n = r.incremental_spread
                    total += f" ({low:.1f}-{high:.1f}, n={n})"
                lines.append(f"| {WAREHOUSE_NAMES[target]} | {world.days} days | {r.node_runs:,} | {cells} | {total} |")
    return "\n".join(lines)


def work_bound_line(run: WarehouseRun) -> str:
    """The ratio of the dbt stage (its four builds, landed tables to marts) to the hand-written script."""
    bound = run.work_bound
    dbt = sum(line.seconds for line in run.lines if line.level == 0 and line.key.startswith("dbt/"))
    marts = sum(
        line.seconds
        for line in run.lines
        if line.key.startswith(("dbt/daily/", "dbt/weekly/", "dbt/monthly/"))
        and line.key.rsplit("/", 1)[1].startswith(("fct_", "node_run_states_", "achievement_rates_"))
    )
    verdict = "equal to the marts" if bound.equal else "**differs from the marts**"
    return (
        f"Work bound (benchmarks/work_bound.py: one hand-written DuckDB script from the landed tables to the "
        f"classified runs and rate rows of every grain, {verdict}): **{bound.seconds:.1f} s**. The dbt stage "
        f"(its four builds) took {dbt:.1f} s = **{dbt / max(bound.seconds, 1e-9):.1f}x** the bound (target at 10M: "
        f"2x); its models for the same tables alone (fct_node_runs, node_run_states_*, achievement_rates_*) "
        f"{marts:.1f} s = {marts / max(bound.seconds, 1e-9):.1f}x."
    )


def pandas_line(world: World) -> str:
    comparisons = []
    for r in world.runs:
        states = next((line for line in r.lines if line.key == "dbt/daily/node_run_states_daily"), None)
        if states is not None:
            comparisons.append(
                f"{WAREHOUSE_NAMES[r.target]} node_run_states_daily {states.seconds:.2f} s "
                f"({_rate(states.rows, states.seconds)} rows/s)"
            )
    return (
        f"Plain pandas classification of the same {world.days} days from the in-memory truth "
        f"(merge_asof for the commitment in force, one vectorised mask per day): **{world.pandas_seconds:.2f} s** for "
        f"{world.pandas_rows:,} in-scope rows ({_rate(world.pandas_rows, world.pandas_seconds)} rows/s)"
        + (f"; beside {'; '.join(comparisons)}." if comparisons else ".")
    )


def machine_info(targets: list[str]) -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "unknown"
    try:
        kib = int(
            next(v for v in Path("/proc/meminfo").read_text().splitlines() if v.startswith("MemTotal")).split()[1]
        )
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass

    def version(package: str) -> str:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "-"

    info = [
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {memory} RAM, CPU model {cpu}",
        f"- software: Python {platform.python_version()}, pandas {version('pandas')}, duckdb {version('duckdb')}, "
        f"dbt-core {version('dbt-core')}, dbt-duckdb {version('dbt-duckdb')}, dbt-postgres {version('dbt-postgres')}",
    ]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_DIR, capture_output=True, text=True
        ).stdout.splitlines()
        changed = f" with {len(dirty)} uncommitted changed file(s)" if dirty else ""
        info.append(f"- code: commit {head}{changed}")
    except (OSError, subprocess.CalledProcessError):
        pass
    if "postgres" in targets:
        try:
            import psycopg2

            # The server the runs used: their PG* settings, which the jobs benchmark sets in its children only.
            keywords = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE"}
            where = {key: os.environ.get(name, PG_DEFAULTS[name]) for key, name in keywords.items()}
            with psycopg2.connect(**where) as conn, conn.cursor() as cur:
                cur.execute("show server_version")
                server = cur.fetchone()[0]
            conn.close()
            info.append(f"- PostgreSQL server {server} on {where['host']}:{where['port']}")
        except Exception as exc:  # noqa: BLE001 - information only
            info.append(f"- PostgreSQL server version unknown ({exc})")
    return info


def report(worlds: list[World], started: dt.datetime, command: str, dbt_hash: str) -> str:
    targets = [r.target for r in worlds[0].runs] if worlds else []
    out = [
        f"Run of {started:%Y-%m-%d %H:%M} UTC.",
        "",
        f"Command: `{command}`",
        "",
        *machine_info(targets),
        f"- dbt project: a copy of dbt_project taken at the start (content hash {dbt_hash})",
        "",
    ]
    for world in worlds:
        out.append(f"### {world.truth_runs:,} node runs over {world.days} closed days ({world.first} ... {world.last})")
        out.append("")
        out.append(
            f"Demo sources: {world.orders_per_day:,} orders/day; generated in {world.generate_seconds:.1f} s, "
            f"written in {world.write_seconds:.1f} s (not counted): "
            + ", ".join(f"{k} {v:,} rows" for k, v in world.source_rows.items())
            + "."
        )
        out.append("")
        out.append(world_table(world))
        out.append("")
        for r in world.runs:
            verdict = ""
            if r.target == "duckdb" and world.truth_runs >= 900_000:
                scaled = r.total * 1_000_000 / max(r.node_runs, 1)
                verdict = f" Target (1M node runs in {TARGET_SECONDS:.0f} s): {scaled:.1f} s per 1M runs, " + (
                    "met." if scaled <= TARGET_SECONDS else "**not met**."
                )
            fixed = sum(line.seconds for line in r.lines if line.key.endswith(("/startup", "/parse", "/rest")))
            invocations = sum(line.key.endswith("/startup") for line in r.lines)
            out.append(
                f"- {WAREHOUSE_NAMES[r.target]}: total {r.total:.1f} s.{verdict} Of it, {fixed:.1f} s "
                f"({fixed / max(r.total, 1e-9):.0%}) is dbt's fixed cost over its {invocations} invocations (process "
                f"start-up, full re-parse, relation cache, artefacts). Load during the run: {r.cpu}."
            )
            if r.work_bound is not None:
                out.append(f"- {work_bound_line(r)}")
            for message in r.mismatches:
                out.append(f"- **{message.splitlines()[0]}**")
            for message in r.failures:
                out.append(f"- **FAILED on {WAREHOUSE_NAMES[r.target]}**: {message}")
        out.append(f"- {pandas_line(world)}")
        out.append("")
    if worlds:
        out.append("### One more day on top of the history (incremental daily run), seconds, median of the repeats")
        out.append("")
        out.append(incremental_table(worlds))
        out.append("")
    return "\n".join(out)


def write_section(path: Path, key: str, title: str, body: str) -> None:
    begin, end = f"<!-- benchmark-result: {key} -->", f"<!-- /benchmark-result: {key} -->"
    section = f"{begin}\n## {title}\n\n{body.rstrip()}\n{end}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


@dataclass
class BenchmarkOptions:
    """The options of `commitments benchmark pipeline` (their help is in commitments_cli/app.py)."""

    runs: int = 1_000_000
    days: int = 60
    warehouse: str = "duckdb"  # duckdb, postgres or both
    data_dir: Path | None = None
    history_factors: str = "1,2"
    clock: str = "config"  # config, wall or business
    seed: int = 7
    now: dt.datetime | None = None
    repeat: int = 3
    keep: bool = False
    output: Path = PROJECT_DIR / "BENCHMARKS.md"
    no_write: bool = False
    no_checks: bool = False
    command: str = "commitments benchmark pipeline"  # as recorded with the results


def run(args: BenchmarkOptions) -> None:
    CHECKS["on"] = not args.no_checks

    from demo.generator import orders_for_runs
    from demo.ticket_api_server import serve_in_subprocess

    targets = ["duckdb", "postgres"] if args.warehouse == "both" else [args.warehouse]
    factors = [int(f) for f in args.history_factors.split(",") if f.strip()]
    started = dt.datetime.now(dt.UTC)
    command = args.command
    now = args.now or business_midnight_today()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="commitments-benchmark-"))
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    use_demo_sources(root)
    use_clock(root, args.clock)
    dbt_hash = snapshot_dbt_project(root)
    first = (now.astimezone(Settings.load().business_time_zone) - dt.timedelta(days=args.days)).date()
    orders_per_day = orders_for_runs(args.runs, first, now)
    print(f"benchmark in {root}: now={now:%Y-%m-%d %H:%M:%S} UTC, {orders_per_day:,} orders/day", flush=True)

    worlds: list[World] = []
    try:
        for factor in factors:
            world, truth = generate_world(root, args.days * factor, now, orders_per_day, args.seed)
            print(
                f"\n# {world.truth_runs:,} node runs over {world.days} days: generated {world.generate_seconds:.1f} s, "
                f"written {world.write_seconds:.1f} s ({world.source_rows})",
                flush=True,
            )
            with timed() as seconds:
                world.pandas_counts, world.pandas_rows = classify_with_pandas(truth, world.first, world.last)
            world.pandas_seconds = seconds()
            del truth
            print(f"  pandas classification {world.pandas_seconds:.2f} s, {world.pandas_rows:,} rows", flush=True)
            # In a process of its own, as a source system: its store and its serving are not the pipeline's.
            server = serve_in_subprocess(world.directory / "sources" / "ticket_events.jsonl", token="")
            os.environ["TICKET_API_URL"] = server.url
            worlds.append(world)
            try:
                for target in targets:
                    world.runs.append(bench_warehouse(target, world, now, args.keep, args.repeat))
            finally:
                server.shutdown()
    finally:
        if not args.keep and args.data_dir is None:
            shutil.rmtree(root, ignore_errors=True)

    body = report(worlds, started, command, dbt_hash)
    print("\n" + body)
    if not args.no_write:
        key = f"{'+'.join(targets)} runs={args.runs} days={args.days}" + (" no-checks" if args.no_checks else "")
        names = " + ".join(WAREHOUSE_NAMES[t] for t in targets)
        title = f"Results: {args.runs:,} node runs, {args.days} days, {names}"
        if args.clock != "config":
            key += f" clock={args.clock}"
            clock = "the wall clock" if args.clock == "wall" else f"the {BUSINESS_CALENDAR} business calendar"
            title += f", every commitment on {clock}"
        write_section(args.output, key, title, body)
        print(f"\nwritten to {args.output}")
    if any(r.mismatches or r.failures for w in worlds for r in w.runs):
        sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.pipeline [options]` is `commitments benchmark pipeline [options]`."""
    from commitments_cli.app import app

    app(["benchmark", "pipeline", *(sys.argv[1:] if argv is None else argv)], prog_name="commitments")


if __name__ == "__main__":
    main()
