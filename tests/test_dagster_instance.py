"""The documented instance configurations load: SQLite by default, PostgreSQL storage in production; on
both, a run over a range of partitions plans an unpartitioned asset of it once, and every event is stored
as Dagster serialises it, the per-partition copies rendered from one serialisation included
(orchestration/event_log.py)."""

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


CLOCK_COLUMNS = ("create_timestamp", "update_timestamp")
RANGE = {"dagster/asset_partition_range_start": "2024-01-01", "dagster/asset_partition_range_end": "2024-01-30"}


def _planned_in_a_ranged_run(instance) -> tuple[dict[str, list[str | None]], str]:
    """Per asset, the partitions a single run over 30 days planned it for: a day-partitioned asset and an
    unpartitioned one after it (as the reporting views follow the day marts). Named so that the partitioned
    one's step comes last in the plan: Dagster stores the run's range from the last step, as in the jobs
    (dbt_reporting_models before landing__*, dbt_weekly_models)."""
    from dagster import (
        AssetSelection,
        BackfillPolicy,
        DagsterEventType,
        DailyPartitionsDefinition,
        Definitions,
        MaterializeResult,
        MetadataValue,
        asset,
        define_asset_job,
    )

    @asset(partitions_def=DailyPartitionsDefinition("2024-01-01"), backfill_policy=BackfillPolicy.single_run())
    def z_days():  # no annotation: Dagster resolves it, and MaterializeResult is imported locally
        return MaterializeResult(metadata={"rows": 30, "rate": 0.5, "by day": MetadataValue.md("| a |\n|---|")})

    @asset(deps=[z_days])
    def a_views() -> None:
        return None

    job = define_asset_job("ranged", selection=AssetSelection.assets(z_days, a_views))
    defs = Definitions(assets=[z_days, a_views], jobs=[job])
    result = defs.resolve_job_def("ranged").execute_in_process(instance=instance, tags=RANGE)
    assert result.success
    planned: dict[str, list[str | None]] = {}
    for record in instance.all_logs(result.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED):
        data = record.get_dagster_event().event_specific_data
        planned.setdefault(data.asset_key.to_user_string(), []).append(data.partition)
    return planned, result.run_id


def _stored_as_dagster_serialises(instance, run_id: str) -> None:
    """Each stored event is the text Dagster's serialiser makes of it, with its own partition and time."""
    import sqlalchemy as sa
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.event_log.schema import SqlEventLogStorageTable as events
    from dagster._serdes import deserialize_value, serialize_value

    storage = instance.event_log_storage
    with storage.run_connection(run_id) as conn:
        rows = conn.execute(
            sa.select(events.c.event, events.c.partition, events.c.dagster_event_type).where(events.c.run_id == run_id)
        ).fetchall()
    materialised = [row for row in rows if row.dagster_event_type == "ASSET_MATERIALIZATION" and row.partition]
    assert len({row.partition for row in materialised}) == 30
    for text, partition, _ in rows:
        entry = deserialize_value(text, EventLogEntry)
        assert serialize_value(entry) == text
        assert (entry.dagster_event.partition if entry.dagster_event else None) == partition
    # A group that stops being copies of one event (other metadata) starts another serialisation.
    entries = [deserialize_value(row.event, EventLogEntry) for row in materialised]
    data = entries[5].dagster_event.event_specific_data
    entries[5] = entries[5]._replace(
        dagster_event=entries[5].dagster_event._replace(
            event_specific_data=data._replace(materialization=data.materialization._replace(metadata={"rows": 1}))
        )
    )
    assert [row["event"] for row in storage._event_rows(entries)] == [serialize_value(e) for e in entries]


def _planned_once_when_unpartitioned(instance) -> None:
    planned, run_id = _planned_in_a_ranged_run(instance)
    _stored_as_dagster_serialises(instance, run_id)
    assert planned["a_views"] == [None]
    assert sorted(planned["z_days"]) == [f"2024-01-{d:02}" for d in range(1, 31)]
    from dagster import AssetKey

    assert len(instance.get_materialized_partitions(AssetKey("z_days"))) == 30
    assert instance.get_latest_materialization_event(AssetKey("a_views")) is not None
    _a_failed_range_is_failed_per_partition(instance)


def _a_failed_range_is_failed_per_partition(instance) -> None:
    """The range's planned event, taken whole, is stored per partition: a failed run marks each partition of
    its range failed, as the UI shows it."""
    from dagster import AssetKey, BackfillPolicy, DailyPartitionsDefinition, Definitions, asset, define_asset_job
    from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

    days = DailyPartitionsDefinition("2024-01-01")

    @asset(partitions_def=days, backfill_policy=BackfillPolicy.single_run())
    def z_days() -> None:
        raise RuntimeError("the source is down")

    assert instance.event_log_storage.supports_partition_subset_in_asset_materialization_planned_events
    defs = Definitions(assets=[z_days], jobs=[define_asset_job("failing", selection=[z_days])])
    tags = {"dagster/asset_partition_range_start": "2024-02-01", "dagster/asset_partition_range_end": "2024-02-10"}
    result = defs.resolve_job_def("failing").execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    assert not result.success
    status = get_and_update_asset_status_cache_value(instance, AssetKey("z_days"), days)
    failed = status.deserialize_failed_partition_subsets(days).get_partition_keys()
    assert sorted(failed) == [f"2024-02-{d:02}" for d in range(1, 11)]
    assert len(instance.get_materialized_partitions(AssetKey("z_days"))) == 30


def _ranged_run_events() -> list:
    """The events of a run over 30 day partitions of an asset with a data version (an indexed asset tag) and
    a check, as Dagster hands them to a storage."""
    from dagster import (
        AssetCheckResult,
        AssetCheckSpec,
        BackfillPolicy,
        DagsterInstance,
        DailyPartitionsDefinition,
        DataVersion,
        MaterializeResult,
        asset,
        materialize,
    )

    @asset(partitions_def=DailyPartitionsDefinition("2024-01-01"), backfill_policy=BackfillPolicy.single_run(),
           check_specs=[AssetCheckSpec("rows_positive", asset="days")])  # fmt: skip
    def days(context):
        yield MaterializeResult(metadata={"rows": 3}, data_version=DataVersion("v1"))
        yield AssetCheckResult(check_name="rows_positive", passed=True)

    with DagsterInstance.ephemeral() as source:
        result = materialize([days], instance=source, tags=RANGE)
        assert result.success
        events = source.all_logs(result.run_id)
    # Planned at one instant, as a storage that takes the range's planned event stores each partition's.
    planned = [i for i, e in enumerate(events) if e.dagster_event_type == "ASSET_MATERIALIZATION_PLANNED"]
    return [e._replace(timestamp=events[planned[0]].timestamp) if i in planned else e for i, e in enumerate(events)]


def _the_range_planned(planned: list):
    """The one planned event over the partitions of these per-partition ones, as Dagster hands it to a storage
    that supports it."""
    from dagster import DailyPartitionsDefinition

    first = planned[0].dagster_event
    keys = [e.dagster_event.event_specific_data.partition for e in planned]
    data = first.event_specific_data._replace(
        partition=None, partitions_subset=DailyPartitionsDefinition("2024-01-01").subset_with_partition_keys(keys)
    )
    return planned[0]._replace(dagster_event=first._replace(event_specific_data=data))


def _store_as_a_run_does(storage, events: list, range_planned: bool = False) -> None:
    """As a range's run hands its events over: its planned events in a batch (or, `range_planned`, as one
    event for the range), then each event up to the step's materialisations, which come in a batch, then the
    rest."""
    kinds = [e.dagster_event_type if e.dagster_event else None for e in events]
    planned = [e for e, k in zip(events, kinds, strict=True) if k == "ASSET_MATERIALIZATION_PLANNED"]
    materialised = [e for e, k in zip(events, kinds, strict=True) if k == "ASSET_MATERIALIZATION"]
    assert len(planned) == len(materialised) == 30
    first = kinds.index("ASSET_MATERIALIZATION")
    if range_planned:
        storage.store_event(_the_range_planned(planned))
    else:
        storage.store_event_batch(planned)
    for event in events[:first]:
        if event not in planned:
            storage.store_event(event)
    storage.store_event_batch(materialised)
    for event in events[first:]:
        if event not in materialised:
            storage.store_event(event)


INDEX_TABLES = ("event_logs", "asset_event_tags", "asset_keys", "asset_check_executions")


def _rows(conn, table: str) -> list[dict]:
    """The table's rows by id, minus the columns the database fills from its clock."""
    import sqlalchemy as sa

    rows = conn.execute(sa.text(f"select * from {table} order by 1")).mappings().fetchall()
    return [{k: v for k, v in row.items() if k not in CLOCK_COLUMNS} for row in rows]


def test_a_batch_is_stored_as_dagsters_own_storage_stores_it(tmp_path: Path) -> None:
    """Every table the batched SQLite storage writes holds, for the same events, the rows Dagster's own SQLite
    storage writes: the run's file (created with the same schema and revision), the index with its ids, the
    asset tags (data versions), the assets' latest events and the checks. The batch is inserted through the
    DBAPI (orchestration/event_log.py, `_insert_many`), so the values pass the column types' bind processors
    here."""
    import sqlalchemy as sa
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from orchestration.event_log import BatchedSqliteEventLogStorage

    events = _ranged_run_events()
    stored = {}
    for kind, range_planned in ((SqliteEventLogStorage, False), (BatchedSqliteEventLogStorage, False),
                                (BatchedSqliteEventLogStorage, True)):  # fmt: skip
        storage = kind(str(tmp_path / f"{kind.__name__}{range_planned}"))
        _store_as_a_run_does(storage, events, range_planned)
        read = {}
        with storage.run_connection(events[0].run_id) as conn:  # a new file each: created as Dagster creates it
            read["run file's schema"] = conn.execute(sa.text("select type, name, sql from sqlite_master")).fetchall()
            read["run file's version, journal"] = [
                conn.execute(sa.text("select version_num from alembic_version")).scalar_one(),
                conn.execute(sa.text("pragma journal_mode")).scalar_one(),
            ]
            read["run file"] = _rows(conn, "event_logs")
        with storage.index_connection() as conn:
            read.update({table: _rows(conn, table) for table in INDEX_TABLES})
        stored[(kind, range_planned)] = read
        storage.dispose()
    dagsters = stored[(SqliteEventLogStorage, False)]
    assert len(dagsters["asset_event_tags"]) == 30 and len(dagsters["asset_check_executions"]) >= 1
    for range_planned in (False, True):
        ours = stored[(BatchedSqliteEventLogStorage, range_planned)]
        assert ours["run file's version, journal"][1] == "wal" and len(ours["run file's schema"]) > 5
        for table in dagsters:
            assert ours[table] == dagsters[table], (table, range_planned)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_range_of_no_partitions_is_stored_as_nothing(tmp_path: Path, kind: str) -> None:
    """A planned event over an empty range, alone or in a batch, stores no row (as its per-partition events:
    none) and fails nothing, on either storage."""
    from dagster import DailyPartitionsDefinition

    from orchestration.event_log import BatchedPostgresEventLogStorage, BatchedSqliteEventLogStorage

    events = _ranged_run_events()
    ranged = _the_range_planned([e for e in events if e.dagster_event_type == "ASSET_MATERIALIZATION_PLANNED"])
    data = ranged.dagster_event.event_specific_data._replace(
        partitions_subset=DailyPartitionsDefinition("2024-01-01").empty_subset()
    )
    empty = ranged._replace(dagster_event=ranged.dagster_event._replace(event_specific_data=data))
    database = f"dagster_{uuid.uuid4().hex[:8]}"
    if kind == "postgres":
        require_server("PostgreSQL", PG_HOST, PG_PORT)
        import psycopg2

        admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test")
        admin.autocommit = True
        admin.cursor().execute(f"create database {database}")
    try:
        storage = (
            BatchedSqliteEventLogStorage(str(tmp_path))
            if kind == "sqlite"
            else BatchedPostgresEventLogStorage(f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{database}")
        )
        storage.store_event(empty)
        storage.store_event_batch([empty])
        storage.store_event(ranged)
        assert len(storage.get_logs_for_run(ranged.run_id)) == 30
        storage.dispose()
    finally:
        if kind == "postgres":
            admin.cursor().execute(f"drop database if exists {database} with (force)")
            admin.close()


def test_a_batch_is_stored_as_dagsters_own_postgres_storage_stores_it() -> None:
    """The same on PostgreSQL, each storage in a database of its own: the events with their ids, the asset
    tags, the assets' latest events and the checks are the rows Dagster's own PostgreSQL storage writes."""
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg2
    from dagster_postgres import PostgresEventLogStorage

    from orchestration.event_log import BatchedPostgresEventLogStorage

    events = _ranged_run_events()
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test")
    admin.autocommit = True
    stored, databases = {}, []
    try:
        for kind, range_planned in ((PostgresEventLogStorage, False), (BatchedPostgresEventLogStorage, False),
                                    (BatchedPostgresEventLogStorage, True)):  # fmt: skip
            databases.append(f"dagster_{uuid.uuid4().hex[:8]}")
            admin.cursor().execute(f"create database {databases[-1]}")
            storage = kind(f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{databases[-1]}")
            _store_as_a_run_does(storage, events, range_planned)
            with storage.index_connection() as conn:
                stored[(kind, range_planned)] = {table: _rows(conn, table) for table in INDEX_TABLES}
            storage.dispose()
    finally:
        for database in databases:
            admin.cursor().execute(f"drop database if exists {database} with (force)")
        admin.close()
    dagsters = stored[(PostgresEventLogStorage, False)]
    assert len(dagsters["event_logs"]) == len(events) and len(dagsters["asset_event_tags"]) == 30
    for range_planned in (False, True):
        ours = stored[(BatchedPostgresEventLogStorage, range_planned)]
        for table in dagsters:
            assert ours[table] == dagsters[table], (table, range_planned)


def test_dagsters_own_storage_plans_an_unpartitioned_asset_per_partition() -> None:
    """What the project's storages undo; when a Dagster upgrade fixes it, this fails: drop the workaround."""
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as instance:
        assert _planned_in_a_ranged_run(instance)[0]["a_views"] == [f"2024-01-{d:02}" for d in range(1, 31)]


def test_default_instance_uses_local_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _instance(tmp_path, "dagster.yaml", monkeypatch) as instance:
        assert "Sqlite" in type(instance.run_storage).__name__
        assert not instance.nux_enabled  # no onboarding modal over the shipped UI
        # per-partition events written in batches (orchestration/event_log.py), in Dagster's usual files
        assert type(instance.event_log_storage).__name__ == "BatchedSqliteEventLogStorage"
        assert (tmp_path / "history" / "runs" / "index.db").exists()
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

        _tables_asked_once(instance, SqliteEventLogStorage, monkeypatch)
        # one live evaluation at a time (the monitoring job tags its runs)
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": "dagster/concurrency_key", "value": "monitoring", "limit": 1} in limits
        _planned_once_when_unpartitioned(instance)


def _tables_asked_once(instance, base: type, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dagster asks whether a table exists before each check evaluation and each batch of asset events it
    stores (on SQLite over a new connection each time): a table found is not asked about again, one missing is
    asked about until it exists."""
    from dagster import AssetCheckResult, asset, asset_check, materialize

    asked: list[str] = []
    real = base.has_table
    monkeypatch.setattr(base, "has_table", lambda storage, name: asked.append(name) or real(storage, name))

    @asset
    def mart() -> int:
        return 1

    checks = [asset_check(asset=mart, name=f"check_{i}")(lambda: AssetCheckResult(passed=True)) for i in range(3)]
    for _ in range(2):
        assert materialize([mart, *checks], instance=instance).success
    assert sorted(asked) == sorted(set(asked)) and "asset_check_executions" in asked, asked
    storage = instance.event_log_storage
    assert not storage.has_table("not_there_yet") and not storage.has_table("not_there_yet")
    assert asked.count("not_there_yet") == 2


def _connections_opened(*storages) -> list[str]:
    """The storages' new database connections from now on (their engines' `connect` events)."""
    import sqlalchemy

    opened: list[str] = []
    for storage in storages:
        name = type(storage).__name__
        sqlalchemy.event.listen(storage._engine, "connect", lambda *_, name=name: opened.append(name))
    return opened


def _usable_after_fork(instance) -> None:
    """A forked process (an executor's step) reads on a connection of its own, never on the parent's kept
    one, and the parent's still works after the child has exited."""
    import multiprocessing
    import os

    import sqlalchemy

    def backend(storage) -> int:
        with storage._connect() as conn:
            return conn.execute(sqlalchemy.text("select pg_backend_pid()")).scalar()

    storage = instance.event_log_storage
    parents = backend(storage)
    runs = len(instance.get_runs())

    def child() -> None:
        os._exit(0 if backend(storage) != parents and len(instance.get_runs()) == runs else 3)

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(60)
    assert process.exitcode == 0
    assert backend(storage) == parents and len(instance.get_runs()) == runs


def test_postgres_instance_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg2
    from dagster import DagsterInstance, job, op

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
            opened = _connections_opened(instance.event_log_storage, instance.run_storage)
            assert smoke.execute_in_process(instance=instance).success
            assert len(instance.get_runs()) == 1
            # a run's dozens of events and run updates over the storages' kept connections, not one each
            assert len(opened) <= 2, opened
            # whose commits do not wait for the server's disk (orchestration/event_log.py)
            import sqlalchemy as sa

            for storage in (instance.event_log_storage, instance.run_storage):
                with storage._engine.connect() as conn:
                    assert conn.execute(sa.text("show synchronous_commit")).scalar_one() == "off"
            _planned_once_when_unpartitioned(instance)
            _usable_after_fork(instance)
            from dagster_postgres import PostgresEventLogStorage

            _tables_asked_once(instance, PostgresEventLogStorage, monkeypatch)
            # a run launched in a process of its own rebuilds the storages from the instance's reference
            with DagsterInstance.from_ref(instance.get_ref()) as child:
                assert type(child.event_log_storage).__name__ == "BatchedPostgresEventLogStorage"
                assert type(child.run_storage).__name__ == "RangeInTagsPostgresRunStorage"
                assert len(child.get_runs()) == len(instance.get_runs())
    finally:
        admin.cursor().execute(f"drop database if exists {database} with (force)")
        admin.close()
