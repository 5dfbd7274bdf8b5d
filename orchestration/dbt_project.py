"""The dbt project as the pipeline sees it: where its manifest is, parsing it when it is stale, and the
selections the jobs build (by dbt tag, so Python never names a model)."""

import fcntl
import hashlib
import os
import subprocess

from orchestration.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# What profiles.yml reads: dbt keeps its partial parse only for the profile it was made with.
PROFILE_ENV = ("WAREHOUSE_TARGET", "WAREHOUSE_SCHEMA", "WAREHOUSE_DUCKDB_PATH", "COMMITMENTS_DATA_DIR",
               "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD")  # fmt: skip


def _profile_stamp() -> str:
    """A digest of the profile's environment (hashed: the password is among it)."""
    return hashlib.sha256(repr([os.environ.get(v) for v in PROFILE_ENV]).encode()).hexdigest()


def ensure_manifest() -> None:
    """Parse the dbt project when its manifest is missing or older than its sources, or when it was parsed
    for another warehouse profile: every dbt invocation of the assets starts from this parse's
    partial_parse.msgpack (dagster-dbt copies it), which dbt discards, re-parsing everything, when the
    profile differs. A lock keeps processes that load the definitions at once (code server, runs, tests)
    from parsing over each other."""
    sources = [p for d in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / d).rglob("*") if p.is_file()]
    sources.append(DBT_PROJECT_DIR / "dbt_project.yml")
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    with open(MANIFEST.parent / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = MANIFEST.parent / ".parse_profile"
        fresh = MANIFEST.exists() and MANIFEST.stat().st_mtime >= max(p.stat().st_mtime for p in sources)
        if fresh and stamp.exists() and stamp.read_text() == _profile_stamp():
            return
        command = [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR)]
        subprocess.run([*command, "--profiles-dir", str(DBT_PROJECT_DIR)], check=True, cwd=DBT_PROJECT_DIR)
        stamp.write_text(_profile_stamp())


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
