"""Dagster's run and event storage (deploy/dagster.yaml, deploy/dagster.postgres.yaml), writing a run's
batches of asset events in one transaction.

A single-run backfill over N day partitions records, per asset, N `ASSET_MATERIALIZATION_PLANNED` events
when it starts and N `ASSET_MATERIALIZATION` events when the step ends: per partition is how the UI shows
which partitions are materialised, failed or in progress, so they stay. Dagster hands each such group to
the storage as one batch when `DAGSTER_EVENT_BATCH_SIZE` is set (`EVENT_BATCH_SIZE`, set by the runner),
but its SQLite storage then still writes event by event, each in two committed transactions (the run's
file and the cross-run index), and its PostgreSQL storage does so for the planned events: about 60 ms an
event on SQLite, minutes for a four-year backfill. These subclasses write a batch as Dagster would event
by event, with the same rows, in one transaction per database.

The run storages keep a run's partition range in its tags only. Dagster also stores the range of a run over
time-window partitions as the run's `partitions_subset`, and then plans every asset of the run for each of
those partitions, unpartitioned ones included (1.13: `DagsterRun.get_resolved_partitions_subset_for_events`
returns the stored subset whatever the asset's partitions): the reporting views at the end of a daily run
over four years were planned 1,492 times each, and the UI showed them in progress for day partitions.
Without the stored copy Dagster resolves the range from the tags per asset, which for an unpartitioned
asset is no partition: one planned event, as its one materialisation.

A run over N partitions still builds and logs, per asset, N planned events before it starts (0.1 ms each
through Dagster's event and logging pipeline). These storages say they take one planned event for the
whole range (`supports_partition_subset_in_asset_materialization_planned_events`) and store it as the N
per-partition events Dagster would have built: the same rows, so the UI still shows per partition what is
planned, in progress or failed (Dagster's own storages would store the one event, and a failed run would
mark no partition failed). The rows are rendered from the first partition's event, without building the
others (`_batch_rows`).

What remains per event is cut without changing a stored byte:
- serialising: a range run's per-partition events of one asset are copies of one event but for their
  partition and time, yet each was serialised whole (0.25 ms for a dbt model's materialisation, 4.5 s of a
  four-year backfill). Each group is serialised once, as a template the others are rendered from
  (`_SerialisedOnce`), checked against Dagster's own serialisation.
- on SQLite, Dagster opens a connection per transaction and closes it, and closing the last connection to
  a WAL database checkpoints it, so every single event (step events, check results) paid two fsyncs. The
  connections are kept, per process, and commit with `synchronous=NORMAL`: in WAL mode that keeps the
  database consistent after a crash and loses at most the last commits on a power cut, which a rerun of the
  run's partitions restores.
- SQLAlchemy's executemany builds each row's parameters in Python (about 40 us a row), and on SQLite its
  INSERT ... RETURNING in parameter order, which the index needs for the events' ids, runs one statement
  per row. The SQLite storage inserts a batch's rows (run file, index, asset tags) in one DBAPI
  `executemany` each, the values through their column types' bind processors (`_insert_many`), and reads
  the index's ids back in one query. It also reads the event type and asset key from the events' data:
  Dagster's properties for them cost 20-30 us a call, several calls an event. The PostgreSQL storage
  writes a batch of materialisations from the same rows (SQLAlchemy's insertmanyvalues, the asset tags as
  rows), where Dagster compiled one statement holding every row's values.
- every run has a new SQLite file, which Dagster creates and stamps with its migrations' head revision,
  reading its migration scripts twice to do so (0.14-0.17 s a run, 0.05 s with them read once per
  process: `_event_log_scripts`).
- Dagster asks whether a table exists (`has_table`) before every check evaluation and every batch of asset
  events it stores: on SQLite over a new engine and connection each time (0.7 ms on an idle machine, for the
  140 check evaluations and the asset batches of the four-year help-desk backfill). A table once found stays
  (Dagster's wipe deletes rows, not tables): the storages remember the tables they found (`_TablesFoundOnce`)
  and ask again only about one not found.
- on PostgreSQL, Dagster's storages connect anew for every statement (a `NullPool`, so that instances do
  not accumulate connections): a four-year help-desk backfill opened 2,513 connections, about 6 s of its
  orchestration. The event log and run storages keep one connection per process (`_KeptPostgresConnection`);
  the webserver still replaces it with its own pool (`optimize_for_webserver`). Their commits return before
  the server flushes them to disk (`synchronous_commit=off` for these sessions only), as SQLite's commit
  with `synchronous=NORMAL` above: a crash of the server loses at most its last fraction of a second of
  commits and leaves the database consistent; a single event's store took 3.2 ms, 2.0 ms without the wait.

They build on Dagster's private storage modules: dagster is pinned (pyproject.toml), and
tests/test_dagster_instance.py and tests/test_jobs_benchmark.py fail if an upgrade moves them.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dagster._core.definitions.partitions.subset import TimeWindowPartitionsSubset
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.event_log import SqlEventLogStorageMetadata
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetEventTagsTable,
    SqlEventLogStorageTable,
)
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sql import get_alembic_config
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory, _runs_directory
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from dagster._serdes import ConfigurableClassData, serialize_value
from dagster_postgres import DagsterPostgresStorage, PostgresEventLogStorage, PostgresRunStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from psycopg2.extras import execute_values
from sqlalchemy.engine import Engine

# Sentinels the template of a group of events is serialised with (`_SerialisedOnce`).
_PARTITION, _TIME = "\x00partition of the rendered event\x00", -1.7976931348623157e308
# Run shards whose connection a process keeps besides the index: a run writes to its own shard only.
_KEPT_RUN_SHARDS = 2

# Large enough that a step's materialisations or a run's planned events are one batch: Dagster cuts a
# batch at this size or at the batch's end, whichever comes first.
EVENT_BATCH_SIZE = "100000"


def _last_per_asset(
    events: Sequence[EventLogEntry], rows: Sequence[dict[str, Any]], ids: Sequence[int]
) -> list[tuple[EventLogEntry, int]]:
    """The asset table keeps an asset's latest event of each kind: storing only the last one of the batch
    per asset and kind leaves it as storing each in turn would. Keyed by the rows' asset key and type."""
    last: dict[tuple[str, Any], tuple[EventLogEntry, int]] = {}
    for event, row, event_id in zip(events, rows, ids, strict=True):
        if row["asset_key"] is not None:
            last[(row["asset_key"], row["dagster_event_type"])] = (event, event_id)
    return list(last.values())


_MATERIALIZATION, _PLANNED = (
    DagsterEventType.ASSET_MATERIALIZATION.value,
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value,
)
_OBSERVATION = DagsterEventType.ASSET_OBSERVATION.value
_ASSET_EVENT_TYPES = {t.value for t in ASSET_EVENTS}
_ASSET_CHECK_EVENT_TYPES = {t.value for t in ASSET_CHECK_EVENTS}
_PLANNED_TYPES = {_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value}


def _without_partition(entry: EventLogEntry) -> tuple[EventLogEntry, str | None, Any] | None:
    """A per-partition asset event as (the event with no partition and time 0, its partition, its asset key);
    None for other events. Events equal in the first serialise equally but for partition and time. Read
    from the event's data: Dagster's `event_type` and `asset_key` properties cost 20-30 us a call."""
    dagster_event = entry.dagster_event
    if dagster_event is None:
        return None
    data = dagster_event.event_specific_data
    kind = dagster_event.event_type_value
    if kind == _MATERIALIZATION:
        partition, key = data.materialization.partition, data.materialization.asset_key
    elif kind == _PLANNED and not data.partitions_subset:
        partition, key = data.partition, data.asset_key
    else:
        return None
    return _with_partition(entry, None, 0.0), partition, key


def _with_partition(normal: EventLogEntry, partition: str | None, timestamp: float) -> EventLogEntry:
    """The materialisation or planned event with this partition and time: where each kind keeps it."""
    dagster_event = normal.get_dagster_event()
    data = dagster_event.event_specific_data
    if dagster_event.event_type_value == _MATERIALIZATION:
        data = data._replace(materialization=data.materialization._replace(partition=partition))
    else:
        data = data._replace(partition=partition)
    return normal._replace(timestamp=timestamp, dagster_event=dagster_event._replace(event_specific_data=data))


def _bound(conn: Any, table: sqlalchemy.Table, names: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[tuple]:
    """The rows' values in the order of `names`, each through its column type's bind processor as SQLAlchemy
    would: its own executemany builds each row's parameters in Python, 40-100 us a row."""
    if any(row.keys() != rows[0].keys() for row in rows):
        raise ValueError(f"rows for {table.name} differ in their columns")
    plan = [(n, table.c[n].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)) for n in names]
    return [tuple(row[n] if process is None else process(row[n]) for n, process in plan) for row in rows]


def _insert_many(conn: Any, table: sqlalchemy.Table, rows: Sequence[dict[str, Any]]) -> None:
    """SQLite: the rows in one DBAPI `executemany`."""
    if not rows:
        return
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(rows[0]))
    conn.exec_driver_sql(str(compiled), _bound(conn, table, compiled.positiontup, rows))


def _pg_insert(conn: Any, table: sqlalchemy.Table, rows: Sequence[dict[str, Any]], returning: str = "") -> list[Any]:
    """PostgreSQL: the rows in INSERT ... VALUES statements of a thousand rows each (psycopg2's
    `execute_values`, which quotes the values in C), with the `returning` column's values."""
    if not rows:
        return []
    quote = conn.dialect.identifier_preparer
    names = list(rows[0])
    statement = (f"insert into {quote.format_table(table)} ({', '.join(quote.quote(n) for n in names)}) values %s"
                 + (f" returning {quote.quote(returning)}" if returning else ""))  # fmt: skip
    values = _bound(conn, table, names, rows)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        found = execute_values(cursor, statement, values, page_size=1000, fetch=bool(returning))
    finally:
        cursor.close()
    return [row[0] for row in found or []]


def _pg_insert_returning_ids(conn: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    """PostgreSQL: the events in multi-row inserts, their ids in the rows' order. SQLAlchemy's insertmanyvalues
    in parameter order took 100 us a row. The ids come from the table's sequence, drawn row by row as the
    VALUES are inserted in their order, so sorted they are the rows' ids in order, whatever order RETURNING
    gives them in and whatever another session inserts meanwhile."""
    return sorted(int(i) for i in _pg_insert(conn, SqlEventLogStorageTable, rows, returning="id"))


def _insert_many_returning_ids(conn: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    """SQLite: the events in one `executemany`, their ids in the rows' order. SQLAlchemy's RETURNING in
    parameter order runs one statement per row on SQLite. The index's ids are its rowids, which SQLite gives
    a new row as one more than the largest in the table, and this transaction holds the database's write
    lock from its first insert: the len(rows) largest ids up to the last inserted are these rows', in order."""
    _insert_many(conn, SqlEventLogStorageTable, rows)
    last = conn.exec_driver_sql("select last_insert_rowid()").scalar_one()
    ids = conn.exec_driver_sql(
        f"select id from {SqlEventLogStorageTable.name} where id <= ? order by id desc limit ?", (last, len(rows))
    ).fetchall()
    return [int(row[0]) for row in reversed(ids)]


class _Template:
    """The serialised form of a group's events with the partition and time left open; None where the
    sentinels do not each occur once, or rendering the first event differs from serialising it."""

    def __init__(self, normal: EventLogEntry, first: EventLogEntry, first_partition: str | None) -> None:
        self.text: str | None = serialize_value(_with_partition(normal, _PARTITION, _TIME))
        self.partition, self.time = json.dumps(_PARTITION), repr(_TIME)
        once = self.text.count(self.partition) == 1 and self.text.count(self.time) == 1
        if not once or self.render(first_partition, first.timestamp) != serialize_value(first):
            self.text = None

    def render(self, partition: str | None, timestamp: float) -> str | None:
        if self.text is None:
            return None
        return self.text.replace(self.partition, json.dumps(partition)).replace(self.time, repr(timestamp))


class _SerialisedOnce:
    """Rows for a batch of events, each group of per-partition copies of one event serialised once."""

    def _event_rows(self, events: Sequence[EventLogEntry]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        groups: dict[tuple[Any, ...], tuple[EventLogEntry, _Template, dict[str, Any]]] = {}
        for entry in events:
            split = _without_partition(entry)
            if split is None:
                rows.append(self._event_to_row(entry))  # type: ignore[attr-defined]
                continue
            normal, partition, asset_key = split
            key = (entry.dagster_event.event_type_value, asset_key)
            group = groups.get(key)
            if group is None or group[0] != normal:
                row = self._event_to_row(entry)  # type: ignore[attr-defined]
                groups[key] = (normal, _Template(normal, entry, partition), row)
                rows.append(row)
                continue
            text = group[1].render(partition, entry.timestamp)
            if text is None:
                rows.append(self._event_to_row(entry))  # type: ignore[attr-defined]
                continue
            timestamp = self._event_insert_timestamp(entry)  # type: ignore[attr-defined]
            rows.append({**group[2], "event": text, "timestamp": timestamp, "partition": partition})
        return rows

    def prepare_insert_event_batch(self, events: Sequence[EventLogEntry]) -> Any:
        return SqlEventLogStorageTable.insert().values(self._event_rows(events))

    def _batch_rows(self, events: Sequence[EventLogEntry]) -> tuple[list[EventLogEntry], list[dict[str, Any]]]:
        """The rows of a batch, a range's planned event as its per-partition rows, with the event each row
        stands for. The range's event stands for each of its rows: of a planned event the index reads only
        the run and time (Dagster's `_get_asset_entry_values`), the same in each. Building each partition's
        event to serialise it cost 60-70 us a partition, 0.6 s of the planned events of a four-year daily run."""
        out_events: list[EventLogEntry] = []
        rows: list[dict[str, Any]] = []
        others: list[EventLogEntry] = []
        for entry in [*events, None]:
            keys = None if entry is None else _range_keys(entry)
            if entry is not None and keys is None:
                others.append(entry)
                continue
            rows.extend(self._event_rows(others))
            out_events.extend(others)
            others = []
            if entry is not None and keys:
                rows.extend(self._planned_rows(entry, keys))
                out_events.extend([entry] * len(keys))
        return out_events, rows

    def _planned_rows(self, entry: EventLogEntry, keys: list[str]) -> list[dict[str, Any]]:
        """The rows of the per-partition events of a range's planned event, rendered from the first one's."""
        first = _planned_for(entry, keys[0])
        row = self._event_to_row(first)  # type: ignore[attr-defined]
        template = _Template(_with_partition(first, None, 0.0), first, keys[0])
        if template.text is None:
            return [row, *(self._event_to_row(_planned_for(entry, key)) for key in keys[1:])]  # type: ignore[attr-defined]
        # one time for all: the range's
        return [row, *({**row, "event": template.render(key, entry.timestamp), "partition": key} for key in keys[1:])]


def _range_subset(entry: EventLogEntry) -> Any:
    """The partitions of a planned event over a range of partitions; None for any other event."""
    dagster_event = entry.dagster_event
    if dagster_event is None or dagster_event.event_type_value != _PLANNED:
        return None
    return dagster_event.event_specific_data.partitions_subset


def _range_keys(entry: EventLogEntry) -> list[str] | None:
    subset = _range_subset(entry)
    return None if subset is None else list(subset.get_partition_keys())


def _planned_for(entry: EventLogEntry, key: str) -> EventLogEntry:
    """A range's planned event for one of its partitions, as Dagster would otherwise have built it
    (`DagsterEvent.build_asset_materialization_planned_event` with one partition)."""
    dagster_event = entry.get_dagster_event()
    planned = dagster_event.event_specific_data._replace(partition=key, partitions_subset=None)
    return entry._replace(dagster_event=dagster_event._replace(event_specific_data=planned))


def _per_partition(events: Sequence[EventLogEntry]) -> list[EventLogEntry]:
    """Each planned event over a range of partitions as its per-partition events: what Dagster's own storage
    paths take."""
    out: list[EventLogEntry] = []
    for entry in events:
        keys = _range_keys(entry)
        out.extend([entry] if keys is None else (_planned_for(entry, key) for key in keys))
    return out


class _TablesFoundOnce:
    """A storage that asks the database about a table until it is found, then remembers it (module docstring)."""

    def has_table(self, table_name: str) -> bool:
        found: set[str] = self.__dict__.setdefault("_tables_found", set())
        if table_name not in found and super().has_table(table_name):  # type: ignore[misc]
            found.add(table_name)
        return table_name in found


class _PlannedPerPartition:
    """Takes a range's planned event whole, stores it per partition (module docstring); the storages'
    store_event_batch expand it."""

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return True

    def store_event(self, event: EventLogEntry) -> None:
        if _range_subset(event) is None:
            super().store_event(event)  # type: ignore[misc]
        else:  # a range of no partitions stores nothing there
            self.store_event_batch([event])  # type: ignore[attr-defined]


class _PlannedChecksOnce:
    """A check planned over N partitions is N rows (its per-partition status); Dagster serialises the
    planned event, which holds the run's whole partition subset, once per row: checks x N^2 work, minutes
    for years of days. Serialised once, the same rows in one statement."""

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        planned = event.get_dagster_event().event_specific_data
        partitions = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        row = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),  # type: ignore[attr-defined]
            "evaluation_event_storage_id": event_id,
        }
        with self.index_connection() as conn:  # type: ignore[attr-defined]
            conn.execute(AssetCheckExecutionsTable.insert(), [{**row, "partition": p} for p in partitions])


class _IndexedAssetEvents:
    """What the index keeps of a batch's asset events besides their rows: their tags, as rows in one insert,
    and each asset's latest event."""

    def _insert_rows(self, conn: Any, table: sqlalchemy.Table, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError  # each storage inserts rows its own way

    def _index_asset_events(
        self, conn: Any, events: Sequence[EventLogEntry], rows: Sequence[dict[str, Any]], ids: Sequence[int]
    ) -> None:
        """In the index's transaction, for asset events whose rows are stored under these ids."""
        tags = self._asset_tag_rows(events, rows, ids)
        # only where the table exists, as Dagster's _store_asset_event_tags
        if tags and self.has_table(AssetEventTagsTable.name):  # type: ignore[attr-defined]
            self._insert_rows(conn, AssetEventTagsTable, tags)
        for event, event_id in _last_per_asset(events, rows, ids):
            self._store_asset_event(conn, event, event_id)  # type: ignore[attr-defined]

    def _asset_tag_rows(
        self, events: Sequence[EventLogEntry], rows: Sequence[dict[str, Any]], ids: Sequence[int]
    ) -> list[dict[str, Any]]:
        """The rows Dagster's `_store_asset_event_tags` writes (the tags `_tags_for_asset_event` indexes),
        read from the events' data and their rows rather than through Dagster's event properties."""
        out = []
        for event, row, event_id in zip(events, rows, ids, strict=True):
            data = event.dagster_event.event_specific_data
            if row["dagster_event_type"] == _MATERIALIZATION:
                tags = data.materialization.tags
            elif row["dagster_event_type"] == _OBSERVATION:
                tags = data.asset_observation.tags
            else:
                continue
            for key in self.get_asset_tags_to_index(set(tags or ())):
                out.append({"event_id": event_id, "asset_key": row["asset_key"], "key": key, "value": tags[key],
                            "event_timestamp": row["timestamp"]})  # fmt: skip
        return out


def _range_in_tags_only(run: DagsterRun) -> DagsterRun:
    """The run without the stored copy of a time-window range its tags already name (module docstring)."""
    tags = run.tags
    in_tags = bool(tags.get(ASSET_PARTITION_RANGE_START_TAG) and tags.get(ASSET_PARTITION_RANGE_END_TAG)) or bool(
        tags.get(PARTITION_NAME_TAG)
    )
    if in_tags and isinstance(run.partitions_subset, TimeWindowPartitionsSubset):
        return run._replace(partitions_subset=None)
    return run


# A kept connection older than this is replaced at its next use (server-side idle timeouts, failovers).
_PG_RECYCLE_SECONDS = 3600


def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
    record.info["pid"] = os.getpid()


def _commit_without_flush_wait(dbapi_connection: Any, _record: Any) -> None:
    """The session's commits return before the server flushes their WAL (module docstring)."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    with dbapi_connection.cursor() as cursor:
        cursor.execute("set synchronous_commit to off")
    dbapi_connection.autocommit = autocommit


def _same_process_only(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A connection inherited through fork is never used: the parent still talks on its socket (SQLAlchemy's
    documented recipe for pools and os.fork)."""
    if record.info["pid"] != os.getpid():
        record.dbapi_connection = proxy.dbapi_connection = None
        raise sqlalchemy.exc.DisconnectionError(f"connection of process {record.info['pid']}, not this one")


class _KeptPostgresConnection:
    """A PostgreSQL storage whose engine keeps one connection (module docstring). More threads at once get
    connections of their own, closed when returned; `pool_pre_ping` replaces one the server dropped."""

    postgres_url: str
    _token_provider: Any
    _engine: Engine

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # Dagster's storage, which builds its NullPool engine
        self._keep_connection()

    def _keep_connection(self) -> None:
        self._engine.dispose()
        self._engine = create_pg_engine(
            self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=-1,
            pool_recycle=_PG_RECYCLE_SECONDS, pool_pre_ping=True,
        )  # fmt: skip
        sqlalchemy.event.listen(self._engine, "connect", _remember_pid)
        sqlalchemy.event.listen(self._engine, "connect", _commit_without_flush_wait)
        sqlalchemy.event.listen(self._engine, "checkout", _same_process_only)

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engine.dispose()


class _RangeInTagsOnly:
    """A run storage that stores (and hands back, for the run's planned events) the run without the copy."""

    def add_run(self, dagster_run: DagsterRun) -> DagsterRun:
        return super().add_run(_range_in_tags_only(dagster_run))  # type: ignore[misc]


class RangeInTagsSqliteRunStorage(_RangeInTagsOnly, SqliteRunStorage):
    """SQLite run storage (Dagster's runs file) storing a run's partition range in its tags only."""


class RangeInTagsPostgresRunStorage(_KeptPostgresConnection, _RangeInTagsOnly, PostgresRunStorage):
    """PostgreSQL run storage (Dagster's runs table) storing a run's partition range in its tags only, over a
    kept connection."""


@functools.cache
def _event_log_scripts() -> ScriptDirectory:
    """Dagster's migration scripts of the event log, read once per process."""
    return ScriptDirectory.from_config(get_alembic_config(sqlite_event_log.__file__))


class BatchedSqliteEventLogStorage(
    _TablesFoundOnce,
    _PlannedPerPartition,
    _SerialisedOnce,
    _IndexedAssetEvents,
    _PlannedChecksOnce,
    SqliteEventLogStorage,
):
    """SQLite event log (a file per run plus the cross-run index file) writing a batch in two transactions,
    over connections it keeps."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: dict[tuple[int, str], Engine] = {}
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine in this process (a forked child opens its own), with one kept connection."""
        with self._engines_lock:
            key = (os.getpid(), shard)
            engine = self._engines.pop(key, None)
            if engine is None:
                engine = sqlalchemy.create_engine(
                    self.conn_string_for_shard(shard),
                    pool_size=1,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
                )
                sqlalchemy.event.listen(engine, "connect", _synchronous_normal)
            self._engines[key] = engine  # the most recently used last
            runs = [k for k in self._engines if k[1] != INDEX_SHARD_NAME and k != key]
            for old in runs[: max(0, len(runs) - _KEPT_RUN_SHARDS + 1)]:
                self._engines.pop(old).dispose()
            return engine

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Any]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _insert_rows(self, conn: Any, table: sqlalchemy.Table, rows: list[dict[str, Any]]) -> None:
        _insert_many(conn, table, rows)  # through the DBAPI: SQLAlchemy's executemany is per-row Python here

    def _initdb(self, engine: Engine, for_index_shard: bool = False) -> None:
        """A run's new file as Dagster creates it (its tables, WAL, stamped at the head revision), with the
        migration scripts read once per process: Dagster's own path reads them twice for every run (about
        0.1 s a run). Any other case, or a race with another process creating the file, goes Dagster's way."""
        if not for_index_shard:
            try:
                with engine.connect() as conn:
                    context = MigrationContext.configure(conn)
                    if context.get_current_revision() is None and not sqlalchemy.inspect(conn).get_table_names():
                        SqlEventLogStorageMetadata.create_all(engine)
                        conn.execute(sqlalchemy.text("PRAGMA journal_mode=WAL;"))
                        context.stamp(_event_log_scripts(), "head")
                        conn.commit()
                        return
            except (sqlalchemy.exc.DatabaseError, sqlite3.DatabaseError):
                pass
        super()._initdb(engine, for_index_shard=for_index_shard)

    def wipe(self) -> None:
        self._dispose_engines()  # before the run shards' files are removed
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._dispose_engines()

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if len({event.run_id for event in events}) != 1:
            super().store_event_batch(_per_partition(events))
            return
        events, rows = self._batch_rows(events)  # serialised once, for both files
        if not rows:  # a range of no partitions
            return
        with self.run_connection(events[0].run_id) as conn:
            _insert_many(conn, SqlEventLogStorageTable, rows)
        asset = [
            (e, row) for e, row in zip(events, rows, strict=True) if row["dagster_event_type"] in _ASSET_EVENT_TYPES
        ]
        if asset:
            asset_events, asset_rows = [e for e, _ in asset], [row for _, row in asset]
            with self.index_transaction() as conn:
                ids = _insert_many_returning_ids(conn, asset_rows)
                self._index_asset_events(conn, asset_events, asset_rows, ids)
        for event, row in zip(events, rows, strict=True):
            if row["dagster_event_type"] in _ASSET_CHECK_EVENT_TYPES:  # one per check, not per partition
                with self.index_connection() as conn:
                    (event_id,) = _insert_many_returning_ids(conn, [row])
                self.store_asset_check_event(event, event_id)


class BatchedSqliteStorage(DagsterSqliteStorage):
    """Dagster's default SQLite storage under `base_dir` (the same files), with the batched event log and
    runs whose partition range is in their tags only."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data=inst_data)
        self._run_storage = RangeInTagsSqliteRunStorage.from_local(_runs_directory(base_dir))
        self._event_log_storage = BatchedSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> BatchedSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        import yaml

        return ConfigurableClassData(
            __name__, BatchedSqliteEventLogStorage.__name__,
            yaml.dump({"base_dir": _event_logs_directory(self.base_dir)}, default_flow_style=False),
        )  # fmt: skip


def _synchronous_normal(connection: Any, _record: Any) -> None:
    connection.execute("pragma synchronous=normal")


class BatchedPostgresEventLogStorage(
    _KeptPostgresConnection,
    _TablesFoundOnce,
    _PlannedPerPartition,
    _SerialisedOnce,
    _IndexedAssetEvents,
    _PlannedChecksOnce,
    PostgresEventLogStorage,
):
    """PostgreSQL event log: a batch of planned events, or of one asset's materialisations, in one insert
    and one index transaction, over a kept connection. Dagster's own batch write covers the materialisations
    only, compiling one statement with every row's values, and reads the asset tags through its event
    properties."""

    def _insert_rows(self, conn: Any, table: sqlalchemy.Table, rows: list[dict[str, Any]]) -> None:
        _pg_insert(conn, table, rows)

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> BatchedPostgresEventLogStorage:  # Dagster's builds its base class, whatever class is configured
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        kinds = {e.dagster_event.event_type_value if e.dagster_event else None for e in events}
        if not events or not (kinds <= _PLANNED_TYPES or kinds in ({_MATERIALIZATION}, {_OBSERVATION})):
            super().store_event_batch(_per_partition(events))
            return
        events, rows = self._batch_rows(events)
        if not rows:
            return
        with self._connect() as conn:
            ids = _pg_insert_returning_ids(conn, rows)
        asset = [
            (e, r, i)
            for e, r, i in zip(events, rows, ids, strict=True)
            if r["dagster_event_type"] in _ASSET_EVENT_TYPES
        ]
        if asset:
            with self.index_transaction() as conn:
                self._index_asset_events(conn, *zip(*asset, strict=True))
        for event, row, event_id in zip(events, rows, ids, strict=True):
            if row["dagster_event_type"] in _ASSET_CHECK_EVENT_TYPES:
                self.store_asset_check_event(event, event_id)


class BatchedPostgresStorage(DagsterPostgresStorage):
    """Dagster's PostgreSQL storage (same configuration, same tables), with the batched event log and runs
    whose partition range is in their tags only."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider)
        self._run_storage = RangeInTagsPostgresRunStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        self._event_log_storage = BatchedPostgresEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> BatchedPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        data = self.inst_data
        return (
            ConfigurableClassData(__name__, BatchedPostgresEventLogStorage.__name__, data.config_yaml) if data else None
        )
