"""The documented instance configurations load: SQLite by default, PostgreSQL storage in production."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from tests.conftest import PG_HOST, PG_PORT, PROJECT_DIR, require_server


def _instance(home: Path, config: str, monkeypatch: pytest.MonkeyPatch):
    from dagster import DagsterInstance

    shutil.copy(PROJECT_DIR / "deploy" / config, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the SQLite storage lives there, as `make dev` sets it
    return DagsterInstance.from_config(str(home))


def test_default_instance_uses_local_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _instance(tmp_path, "dagster.yaml", monkeypatch) as instance:
        assert "Sqlite" in type(instance.run_storage).__name__
        assert not instance.nux_enabled  # no onboarding modal over the shipped UI
        # per-partition events written in batches (orchestration/event_log.py), in Dagster's usual files
        assert type(instance.event_log_storage).__name__ == "BatchedSqliteEventLogStorage"
        assert (tmp_path / "history" / "runs" / "index.db").exists()
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        # one live evaluation at a time (the monitoring job tags its runs)
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": "dagster/concurrency_key", "value": "monitoring", "limit": 1} in limits


def test_postgres_instance_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg2
    from dagster import job, op

    database = f"dagster_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test")
    admin.autocommit = True
    admin.cursor().execute(f"create database {database}")
    try:
        monkeypatch.setenv("DAGSTER_PG_URL", f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{database}")

        @op
        def noop() -> None:
            return None

        @job
        def smoke() -> None:
            noop()

        with _instance(tmp_path, "dagster.postgres.yaml", monkeypatch) as instance:
            assert "Postgres" in type(instance.run_storage).__name__ and not instance.nux_enabled
            assert type(instance.event_log_storage).__name__ == "BatchedPostgresEventLogStorage"
            assert smoke.execute_in_process(instance=instance).success
            assert len(instance.get_runs()) == 1
    finally:
        admin.cursor().execute(f"drop database if exists {database} with (force)")
        admin.close()
