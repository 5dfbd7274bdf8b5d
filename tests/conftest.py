"""Shared fixtures: an isolated warehouse per test on DuckDB and on PostgreSQL, and a pipeline runner.

A test that needs a server skips when none is reachable, except under CI=true, where the skip
becomes a failure: CI must never go green by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_DIR / "config"
HELPDESK_CSV = PROJECT_DIR.parent / "shared" / "datasets" / "helpdesk" / "helpdesk.csv"


def server_reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip without the server; under CI a missing server fails the test instead."""
    if server_reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}, and CI=true forbids skipping", pytrace=False)
    pytest.skip(message)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "heavy: the module builds whole pipelines (minutes); scheduled first when tests run in parallel"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """For `pytest -n 2 --dist loadscope` (make test), where a unit of work is a test module on one warehouse
    (its shared pipelines are built once): the heavy modules first, so that the workers finish together.
    Before xdist sends the collection; a stable sort, so a module's tests stay together and in pytest's order."""
    session.items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadscope`, with a module's DuckDB tests and its PostgreSQL tests as two units of work: a
    module-scoped pipeline is built per warehouse anyway, and the two halves of a heavy module run at once."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleAndWarehouse(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            params = nodeid.rsplit("[", 1)[1].rstrip("]").split("-") if nodeid.endswith("]") else []
            warehouse = next((w for w in ("duckdb", "postgres") if w in params), "")
            return f"{module}::{warehouse}"

    return ModuleAndWarehouse(config, log)


# The nine period marts, and each one's primary key.
RESULTS = [
    f"{model}_{grain}"
    for model in ("node_run_states", "work_order_status", "achievement_rates")
    for grain in ("daily", "weekly", "monthly")
]
KEYS = {"node_run_states": "period_node_run_id", "work_order_status": "period_work_order_id",
        "achievement_rates": "achievement_rate_id"}  # fmt: skip


PG_HOST, PG_PORT = os.environ.get("PGHOST", "127.0.0.1"), int(os.environ.get("PGPORT", "5432"))
# The tests' PostgreSQL warehouse, named in full: the pipeline has no default connection (orchestration/warehouse.py).
PG_ENV = {"PGHOST": PG_HOST, "PGPORT": str(PG_PORT), "PGUSER": "postgres", "PGDATABASE": "test"}
MARIADB_HOST, MARIADB_PORT = "127.0.0.1", 3306


def project_settings(**overrides: str):
    """The settings of the repository's own configuration directory, whatever a test's environment says of
    sources or files (what `dagster dev` in the repository shows)."""
    from orchestration.settings import Settings

    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COMMITMENTS_", "ALERTS_"))}
    return Settings.load(environ | overrides)


@pytest.fixture(autouse=True)
def _no_environment_leaks() -> Iterator[None]:
    """A test that sets a variable outside monkeypatch (a command run in-process) must not change what
    the next test in the same worker builds: the environment is put back as it was."""
    before = dict(os.environ)
    yield
    if dict(os.environ) != before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse_target(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        require_server("PostgreSQL", PG_HOST, PG_PORT)
    return request.param


# Warehouse slots: the schema and DuckDB file a test's pipeline uses while it runs, then the next one's in this
# worker. The dbt profile repeats, and with it the manifest parsed for it (orchestration/dbt_project.py keeps
# one per profile): a fresh schema per test made dbt parse the whole project again for each (about 3 s).
_SLOT_TOKEN = uuid.uuid4().hex[:8]  # this process's: test runs in parallel on one server never share a schema
_slots_in_use: set[int] = set()


@contextmanager
def _warehouse_slot() -> Iterator[tuple[str, Path]]:
    """The lowest free slot (a module's pipeline and a test's own can be open at once): its schema name
    and an empty directory for its DuckDB file, removed when the slot is given back."""
    slot = min(set(range(len(_slots_in_use) + 1)) - _slots_in_use)
    _slots_in_use.add(slot)
    directory = Path(tempfile.gettempdir()) / f"commitments-tests-{_SLOT_TOKEN}-{slot}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    try:
        yield f"t_{_SLOT_TOKEN}_{slot}", directory / "warehouse.duckdb"
    finally:
        _slots_in_use.discard(slot)
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def isolated_pipeline(root: Path, target: str) -> Iterator[Path]:
    """Point every setting at a fresh data dir, source dir and warehouse (a slot's empty schema and DuckDB
    file: WAREHOUSE_DUCKDB_PATH). Yields the data dir; a test activates sources by writing declarations into
    <data dir>/sources_config."""
    sources = root / "sources_config"
    sources.mkdir()
    (root / "dagster_home").mkdir()
    with _warehouse_slot() as (schema, duckdb_path), pytest.MonkeyPatch.context() as mp:
        if target == "postgres":
            _drop_pg_schemas(schema)  # a test that failed in the middle of its teardown
        mp.setenv("COMMITMENTS_DATA_DIR", str(root))
        mp.setenv("COMMITMENTS_SOURCES_DIR", str(sources))
        mp.setenv("WAREHOUSE_TARGET", target)
        if target == "postgres":
            for variable, value in PG_ENV.items():
                mp.setenv(variable, value)
        mp.setenv("WAREHOUSE_DUCKDB_PATH", str(duckdb_path))
        mp.setenv("WAREHOUSE_SCHEMA", schema)
        mp.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        # GX suites cost seconds per asset; tests about other things run without them. The tests of
        # the quality gates switch them on (tests/test_quality_gates.py, tests/test_great_expectations.py).
        mp.setenv("COMMITMENTS_GX_CHECKS", "false")
        try:
            yield root
        finally:
            if target == "postgres":
                _drop_pg_schemas(schema)


def _drop_pg_schemas(schema: str) -> None:
    import psycopg2

    from orchestration.warehouse import Warehouse

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_ENV["PGUSER"], dbname=PG_ENV["PGDATABASE"])
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in Warehouse(target="postgres", schema_name=schema).schemas:
            cur.execute(f"drop schema if exists {name} cascade")
    conn.close()


@pytest.fixture
def pipeline_env(tmp_path: Path, warehouse_target: str) -> Iterator[Path]:
    with isolated_pipeline(tmp_path, warehouse_target) as root:
        yield root


@pytest.fixture(scope="module")
def module_pipeline_env(tmp_path_factory: pytest.TempPathFactory, warehouse_target: str) -> Iterator[Path]:
    """One isolated pipeline shared by a module's tests (they only read what it built)."""
    with isolated_pipeline(tmp_path_factory.mktemp("pipeline"), warehouse_target) as root:
        yield root


def use_source(data_dir: Path, name: str) -> None:
    """Activate one of the project's own source declarations in a test."""
    shutil.copy(CONFIG_DIR / "sources" / f"{name}.yaml", data_dir / "sources_config" / f"{name}.yaml")


def settings_of_env():
    """The settings a process started now would build (the tests set the environment, then read it)."""
    from orchestration.settings import Settings

    return Settings.load()


def warehouse_of_env():
    from orchestration.warehouse import Warehouse

    return Warehouse.from_settings(settings_of_env())


def deployed_instance_home() -> Path:
    """DAGSTER_HOME of the test (isolated_pipeline sets it) with the instance a deployment ships
    (deploy/dagster.yaml: SQLite files there, through orchestration/event_log.py's batched storage; pool
    limit 1), for this process and the processes a test starts."""
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_DIR / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return home


def deployed_instance():
    """The deployment's instance in the test's DAGSTER_HOME. An ephemeral instance would store a range run's
    per-partition events one by one: most of a long backfill's time."""
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(deployed_instance_home()))


def run_pipeline(first: date, last: date) -> None:
    """Build definitions from the current environment and run every job over [first, last]."""
    from orchestration.definitions import build_defs
    from orchestration.periods import PeriodRange
    from orchestration.runner import run_periods

    with deployed_instance() as instance:
        run_periods(build_defs(), instance, PeriodRange(first, last))


def query(sql: str) -> pd.DataFrame:
    """Read from the test's warehouse; `{s}` is replaced by the dbt schema."""
    warehouse = warehouse_of_env()
    return warehouse.query(sql.replace("{s}", warehouse.schema_name))


def snapshot_marts() -> dict[str, pd.DataFrame]:
    """Every period mart of the test's warehouse, in key order: to compare a timely run with a backfill."""
    frames = {}
    for table in RESULTS:
        key = KEYS[table.rsplit("_", 1)[0]]
        frames[table] = query(f"select * from {{s}}.{table}").sort_values(key).reset_index(drop=True)
    return frames


def publish_reference() -> None:
    """What reference_job does, in this process through the live evaluation's dbt runner, so the tests of
    the monitoring share one dbt parse between it and their evaluations (reference_job itself is run by
    the pipeline tests)."""
    from orchestration.dbt_project import REFERENCE_EXCLUDE
    from orchestration.dbt_runner import dbt_in_process
    from orchestration.landing.batch import ensure_landing
    from orchestration.reference.publish import load_reference

    warehouse = warehouse_of_env()
    ensure_landing(warehouse)
    load_reference(warehouse, settings_of_env())
    dbt_in_process("build", "--select", "fqn:*", "--exclude", REFERENCE_EXCLUDE)


def assert_base_table_equals_truth(base: pd.DataFrame, truth: pd.DataFrame, as_of: object = None) -> None:
    """fct_node_runs holds exactly the generator's truth (the demo systems as seen at its `now`), run for run.
    With `as_of` (the generator's `now`), both are compared as of that instant (SEMANTICS.md "State as of an
    instant T"): the demo puts events exactly at `now`, which belong to what comes after it; whether a
    source already shows one (an OA task's latest version) or not (the next day's drop) does not matter."""
    cols = ["work_order_id", "node_code", "visit", "segment", "department", "start_at", "end_at", "cancelled_at"]
    want = truth.assign(**{c: truth[c].astype(str) for c in ("work_order_id", "node_code", "segment", "department")})
    for c in ("start_at", "end_at", "cancelled_at"):
        want[c] = pd.to_datetime(want[c]).dt.tz_convert(None)
    got = base.copy()
    for c in ("start_at", "end_at", "cancelled_at"):
        got[c] = pd.to_datetime(got[c])
    if as_of is not None:
        cut = pd.Timestamp(as_of).tz_convert(None)
        want, got = (f[f.start_at < cut].assign(**{c: f[c].where(f[c] < cut) for c in ("end_at", "cancelled_at")})
                     for f in (want, got))  # fmt: skip
    key = ["work_order_id", "node_code", "visit"]
    want = want[cols].astype({"visit": int}).sort_values(key).reset_index(drop=True)
    got = got[cols].astype({"visit": int}).sort_values(key).reset_index(drop=True)
    assert len(got) == len(want) > 0
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
