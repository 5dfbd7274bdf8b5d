"""The dbt project as the pipeline sees it: where its manifest is, parsing it when it is stale, and the
selections the jobs build (by dbt tag, so Python never names a model)."""

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestration.settings import DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# What profiles.yml reads: dbt keeps its partial parse only for the profile it was made with.
PROFILE_ENV = ("WAREHOUSE_TARGET", "WAREHOUSE_SCHEMA", "WAREHOUSE_DUCKDB_PATH", "COMMITMENTS_DATA_DIR",
               "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD")  # fmt: skip


def _profile_stamp() -> str:
    """A digest of the profile's environment (hashed: the password is among it)."""
    return hashlib.sha256(repr([os.environ.get(v) for v in PROFILE_ENV]).encode()).hexdigest()


def _sources_mtime() -> float:
    sources = [p for d in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / d).rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in [*sources, DBT_PROJECT_DIR / "dbt_project.yml"])


# dbt's Manifest objects parsed in this process, by project version and profile (at most one kept).
_parsed: dict[tuple[float, str], Any] = {}


def project_args(target: Path) -> list[str]:
    """Where dbt finds the project and profile, and where it writes (artefacts and log) for one invocation."""
    return ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(target), "--log-path", str(target)]  # fmt: skip


def _parse(target: Path) -> Any:
    """Parse in this process (dbt is imported once per process), writing the manifest and partial parse
    into `target`; keep the parsed Manifest for orchestration/dbt_runner.py."""
    from dbt.cli.main import dbtRunner

    key = (_sources_mtime(), _profile_stamp())
    parsed = dbtRunner().invoke(["parse", "--quiet", *project_args(target)])
    if not parsed.success:
        raise RuntimeError(f"dbt parse failed: {parsed.exception}")
    _parsed.clear()
    _parsed[key] = parsed.result
    return parsed.result


@contextmanager
def _parse_lock() -> Iterator[None]:
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    with open(MANIFEST.parent / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_manifest() -> None:
    """Parse the dbt project when its manifest is missing or older than its sources, or when it was parsed
    for another warehouse profile: the manifest names each model's relation in that profile's schema, and
    a dbt process (what-if, the command line) starts from this parse's partial_parse.msgpack, which dbt
    discards, re-parsing everything, when the profile differs. A lock keeps processes that load the
    definitions at once (code server, runs, tests) from parsing over each other."""
    with _parse_lock():
        _ensure_current()


def read_manifest() -> dict[str, Any]:
    """The manifest's JSON, current for this environment's profile, read under the parse lock: another
    process may be parsing for its own profile meanwhile, and dbt rewrites the file in place (a read
    between its writes got half a file)."""
    with _parse_lock():
        _ensure_current()
        return json.loads(MANIFEST.read_text(encoding="utf-8"))


def _ensure_current() -> None:
    stamp = MANIFEST.parent / ".parse_profile"
    fresh = MANIFEST.exists() and MANIFEST.stat().st_mtime >= _sources_mtime()
    if fresh and stamp.exists() and stamp.read_text() == _profile_stamp():
        return
    _parse(MANIFEST.parent)
    stamp.write_text(_profile_stamp())


def parsed_manifest() -> Any:
    """dbt's Manifest for the project on disk and the environment's profile: parsed once per process and
    profile (from the shared partial parse when it was made for this profile; a full parse otherwise)."""
    key = (_sources_mtime(), _profile_stamp())
    if key not in _parsed:
        ensure_manifest()
    if key not in _parsed:  # the shared manifest is current: parse privately, not over it
        target = DBT_PROJECT_DIR / "target" / "parsed" / str(os.getpid())
        target.mkdir(parents=True, exist_ok=True)
        partial = MANIFEST.parent / "partial_parse.msgpack"
        if partial.exists():
            shutil.copy(partial, target / partial.name)
        _parse(target)
    return _parsed[key]


# The base data table and the pauses beside it (dbt tag `base`): updated per day window, before the day results.
BASE_MODELS = "tag:base"
PERIOD_TAGS = {"day": "tag:period_day", "week": "tag:period_week", "month": "tag:period_month"}
MONITORING_TAG = "tag:monitoring"
# The BI-safe views over the marts (models/reporting): made current as the last step of every job, rebuilt
# when they must be (orchestration/assets/reporting.py); rpt_open_runs is also tagged monitoring, rebuilt
# with open_run_states.
REPORTING_TAG = "tag:reporting"
# The reference set is everything else; the live current-state models are built by the monitoring job.
REFERENCE_EXCLUDE = f"{BASE_MODELS} {' '.join(PERIOD_TAGS.values())} {MONITORING_TAG} {REPORTING_TAG}"
