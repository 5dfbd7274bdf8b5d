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

They build on Dagster's private storage modules: dagster is pinned (pyproject.toml), and
tests/test_dagster_instance.py and tests/test_jobs_benchmark.py fail if an upgrade moves them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster._core.definitions.partitions.subset import TimeWindowPartitionsSubset
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory, _runs_directory
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from dagster._serdes import ConfigurableClassData, serialize_value
from dagster_postgres import DagsterPostgresStorage, PostgresEventLogStorage, PostgresRunStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

# Large enough that a step's materialisations or a run's planned events are one batch: Dagster cuts a
# batch at this size or at the batch's end, whichever comes first.
EVENT_BATCH_SIZE = "100000"


def _last_per_asset(events: Sequence[EventLogEntry], ids: Sequence[int]) -> list[tuple[EventLogEntry, int]]:
    """The asset table keeps an asset's latest event of each kind: storing only the last one of the batch
    per asset and kind leaves it as storing each in turn would."""
    last: dict[tuple[str, Any], tuple[EventLogEntry, int]] = {}
    for event, event_id in zip(events, ids, strict=True):
        key = event.get_dagster_event().asset_key
        if key is not None:
            last[(key.to_string(), event.dagster_event_type)] = (event, event_id)
    return list(last.values())


def _insert_returning_ids(conn: Any, rows: list[dict[str, Any]]) -> list[int]:
    """One statement for many events (SQLAlchemy's insertmanyvalues), their ids in the rows' order."""
    statement = SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True)
    return [int(row[0]) for row in conn.execute(statement, rows).fetchall()]


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


def _range_in_tags_only(run: DagsterRun) -> DagsterRun:
    """The run without the stored copy of a time-window range its tags already name (module docstring)."""
    tags = run.tags
    in_tags = bool(tags.get(ASSET_PARTITION_RANGE_START_TAG) and tags.get(ASSET_PARTITION_RANGE_END_TAG)) or bool(
        tags.get(PARTITION_NAME_TAG)
    )
    if in_tags and isinstance(run.partitions_subset, TimeWindowPartitionsSubset):
        return run._replace(partitions_subset=None)
    return run


class _RangeInTagsOnly:
    """A run storage that stores (and hands back, for the run's planned events) the run without the copy."""

    def add_run(self, dagster_run: DagsterRun) -> DagsterRun:
        return super().add_run(_range_in_tags_only(dagster_run))  # type: ignore[misc]


class RangeInTagsSqliteRunStorage(_RangeInTagsOnly, SqliteRunStorage):
    """SQLite run storage (Dagster's runs file) storing a run's partition range in its tags only."""


class RangeInTagsPostgresRunStorage(_RangeInTagsOnly, PostgresRunStorage):
    """PostgreSQL run storage (Dagster's runs table) storing a run's partition range in its tags only."""


class BatchedSqliteEventLogStorage(_PlannedChecksOnce, SqliteEventLogStorage):
    """SQLite event log (a file per run plus the cross-run index file) writing a batch in two transactions."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if len({event.run_id for event in events}) != 1:
            super().store_event_batch(events)
            return
        rows = [self._event_to_row(event) for event in events]  # serialised once, for both files
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        asset = [(e, row) for e, row in zip(events, rows, strict=True) if e.dagster_event_type in ASSET_EVENTS]
        if asset:
            asset_events = [e for e, _ in asset]
            with self.index_transaction() as conn:
                ids = _insert_returning_ids(conn, [row for _, row in asset])
                self._store_asset_event_tags(conn, asset_events, ids)
                for event, event_id in _last_per_asset(asset_events, ids):
                    self._store_asset_event(conn, event, event_id)
        for event, row in zip(events, rows, strict=True):
            if event.dagster_event_type in ASSET_CHECK_EVENTS:  # one per check, not per partition
                with self.index_connection() as conn:
                    (event_id,) = _insert_returning_ids(conn, [row])
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


class BatchedPostgresEventLogStorage(_PlannedChecksOnce, PostgresEventLogStorage):
    """PostgreSQL event log: a batch of planned events in one insert and one index transaction (Dagster's
    own batch write covers the materialisations only)."""

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        planned = {DagsterEventType.ASSET_MATERIALIZATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED}
        if not events or not {e.dagster_event_type for e in events} <= planned:
            super().store_event_batch(events)
            return
        with self._connect() as conn:
            ids = _insert_returning_ids(conn, [self._event_to_row(event) for event in events])
        asset_events = [(e, i) for e, i in zip(events, ids, strict=True) if e.dagster_event_type in ASSET_EVENTS]
        if asset_events:
            with self.index_transaction() as conn:
                for event, event_id in _last_per_asset([e for e, _ in asset_events], [i for _, i in asset_events]):
                    self._store_asset_event(conn, event, event_id)
        for event, event_id in zip(events, ids, strict=True):
            if event.dagster_event_type in ASSET_CHECK_EVENTS:
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
