"""The dbt project as the pipeline sees it: where its manifest is, parsing it when it is stale, and the
selections the jobs build (by dbt tag, so Python never names a model)."""

import fcntl
import functools
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestration.settings import DBT_PROJECT_DIR

TARGET_ROOT = DBT_PROJECT_DIR / "target"
# What each dbt target of profiles.yml reads of the environment. dbt keeps a partial parse only for the
# profile it was made with, and a manifest names every relation in its profile's schema, so each profile
# has its own manifest directory: processes on different warehouses (the two halves of the tests, a
# what-if, an operator's command) neither re-parse over each other nor read each other's manifest.
PROFILE_ENV = {
    "duckdb": ("WAREHOUSE_SCHEMA", "WAREHOUSE_DUCKDB_PATH", "WAREHOUSE_DUCKDB_MEMORY_LIMIT"),
    "postgres": ("WAREHOUSE_SCHEMA", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD"),
}
KEPT_PROFILES = 16  # manifest directories of the profiles used last (about 3 MB each)
ARTEFACTS = ("partial_parse.msgpack", "semantic_manifest.json", "manifest.json")  # the manifest last: it dates the set


def _profile_stamp(environ: Mapping[str, str] | None = None) -> str:
    """A digest of what the environment's dbt profile reads (hashed: the password is among it)."""
    environ = os.environ if environ is None else environ
    target = environ.get("WAREHOUSE_TARGET", "duckdb")
    values = [target, *(environ.get(v) for v in PROFILE_ENV.get(target, ()))]
    if target == "duckdb" and not environ.get("WAREHOUSE_DUCKDB_PATH"):
        values.append(environ.get("COMMITMENTS_DATA_DIR"))  # the database path's default
    return hashlib.sha256(repr(values).encode()).hexdigest()


def profile_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the manifest and partial parse of the environment's profile are (ensure_manifest makes them)."""
    return TARGET_ROOT / "profiles" / _profile_stamp(environ)[:16]


def _sources_mtime() -> float:
    sources = [p for d in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / d).rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in [*sources, DBT_PROJECT_DIR / "dbt_project.yml"])


# dbt's Manifest objects parsed in this process, by project version and profile: the last few, as a process
# may alternate between warehouses (a test worker does).
_parsed: dict[tuple[float, str], Any] = {}
KEPT_PARSED = 4


def project_args(target: Path) -> list[str]:
    """Where dbt finds the project and profile, and where it writes (artefacts and log) for one invocation."""
    return ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(target), "--log-path", str(target)]  # fmt: skip


@functools.cache  # once per process, before its first dbt parse or invocation
def cheap_behavior_flag_source() -> None:
    """Every dbt invocation registers its adapter, whose behaviour flags each name the module that declared
    them by `inspect.stack()`: the source lines of every frame of the stack read, about 0.6 s an invocation
    under Dagster's deep stacks (a two-month test pipeline 23.4 -> 20.3 s, BENCHMARKS.md). The same module
    name, from the frames alone. dbt-common is pinned by dbt-core's pin in pyproject.toml."""
    import sys

    from dbt_common.behavior_flags import BehaviorFlagRendered

    def _default_source() -> str:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_globals.get("__name__")
            if name and name != BehaviorFlagRendered.__module__:
                return name
            frame = frame.f_back
        return "Unknown"

    BehaviorFlagRendered._default_source = staticmethod(_default_source)


def _parse(target: Path, *, write_json: bool = True) -> Any:
    """Parse in this process (dbt is imported once per process), from the partial parse found in `target`,
    writing the manifest there (unless `write_json` is false) and the partial parse; keep the parsed Manifest
    for orchestration/dbt_runner.py."""
    from dbt.cli.main import dbtRunner

    cheap_behavior_flag_source()

    key = (_sources_mtime(), _profile_stamp())
    flags = [] if write_json else ["--no-write-json"]
    parsed = dbtRunner().invoke(["parse", "--quiet", *flags, *project_args(target)])
    if not parsed.success:
        raise RuntimeError(f"dbt parse failed: {parsed.exception}")
    _parsed.pop(key, None)
    _parsed[key] = parsed.result
    for old in list(_parsed)[:-KEPT_PARSED]:
        del _parsed[old]
    return parsed.result


def _scratch(kind: str) -> Path:
    """A directory of this process's own, holding a copy of the profile's partial parse."""
    target = TARGET_ROOT / kind / str(os.getpid())
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    partial = profile_dir() / "partial_parse.msgpack"
    if partial.exists():
        shutil.copy(partial, target / partial.name)
    return target


@contextmanager
def _parse_lock() -> Iterator[None]:
    TARGET_ROOT.mkdir(parents=True, exist_ok=True)
    with open(TARGET_ROOT / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_manifest() -> Path:
    """The manifest of the environment's profile, parsed when it is missing or older than the project's
    sources. A lock keeps processes that load the definitions at once (code server, runs, tests) from
    parsing together; the parse writes elsewhere and moves each artefact in whole, so a reader without
    the lock (dagster-dbt loading the definitions) never sees half a file."""
    with _parse_lock():
        return _ensure_current()


def read_manifest() -> dict[str, Any]:
    """The manifest's JSON, current for this environment's profile."""
    return json.loads(ensure_manifest().read_text(encoding="utf-8"))


def _ensure_current() -> Path:
    directory = profile_dir()
    manifest = directory / "manifest.json"
    if manifest.exists() and manifest.stat().st_mtime >= _sources_mtime():
        os.utime(directory)  # used: kept by _prune
        return manifest
    scratch = _scratch("parsing")
    _parse(scratch)
    directory.mkdir(parents=True, exist_ok=True)
    for name in ARTEFACTS:
        if (scratch / name).exists():
            os.replace(scratch / name, directory / name)
    shutil.rmtree(scratch, ignore_errors=True)
    _prune(directory.parent)
    return manifest


def _prune(profiles: Path) -> None:
    """Keep the manifest directories of the profiles used last (the tests make one per warehouse slot)."""
    used = sorted(profiles.iterdir(), key=lambda d: d.stat().st_mtime, reverse=True)
    for old in used[KEPT_PROFILES:]:
        shutil.rmtree(old, ignore_errors=True)


def parsed_manifest() -> Any:
    """dbt's Manifest for the project on disk and the environment's profile: parsed once per process and
    profile (from the profile's partial parse, which ensure_manifest keeps current)."""
    key = (_sources_mtime(), _profile_stamp())
    if key not in _parsed:
        ensure_manifest()
    if key not in _parsed:  # another process made the profile's manifest: parse privately, not over it
        scratch = _scratch("parsed")
        _parse(scratch, write_json=False)  # its Manifest is what is needed here: writing it took 0.6 s
        shutil.rmtree(scratch, ignore_errors=True)
    return _parsed[key]


# The base data table and the pauses beside it (dbt tag `base`): updated per day window, before the day results.
BASE_MODELS = "tag:base"
PERIOD_TAGS = {"day": "tag:period_day", "week": "tag:period_week", "month": "tag:period_month"}
# The tables of models/intermediate carry the tag of the set that builds them but are not Dagster assets: the
# same dbt invocation builds them, with their tests, next to the marts (InternalModels in
# orchestration/assets/dbt.py). As assets they were two more events per model and partition in every range
# run, for tables no user reads. Selected by folder (`fqn:`, a model's fqn after its package): dbt reads a
# `path:` selector from the working directory.
ASSET_MODELS = "fqn:marts"
INTERNAL_FOLDER = "intermediate"
INTERNAL_MODELS = f"fqn:{INTERNAL_FOLDER}"


def is_internal(node: Mapping[str, Any]) -> bool:
    """Whether a manifest node is one of the intermediate tables (ephemeral models are never assets anyway)."""
    return (
        node["resource_type"] == "model"
        and node["fqn"][1:2] == [INTERNAL_FOLDER]
        and node["config"]["materialized"] != "ephemeral"
    )


def within(selection: str, folder: str) -> str:
    """The models of a selection (dbt's union of tags, space-separated) in one folder (an `fqn:` selector)."""
    return " ".join(f"{part},{folder}" for part in selection.split())


MONITORING_TAG = "tag:monitoring"
# The BI-safe views over the marts (models/reporting): made current as the last step of every job, rebuilt
# when they must be (orchestration/assets/reporting.py); rpt_open_runs is also tagged monitoring, rebuilt
# with open_run_states.
REPORTING_TAG = "tag:reporting"
# The reference set is everything else; the live current-state models are built by the monitoring job.
REFERENCE_EXCLUDE = f"{BASE_MODELS} {' '.join(PERIOD_TAGS.values())} {MONITORING_TAG} {REPORTING_TAG}"
