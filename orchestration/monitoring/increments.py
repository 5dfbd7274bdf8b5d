"""Incremental extraction for the live evaluation: land what changed in each source since its cursor.

* sql and http sources are read for [cursor - overlap, as_of) through their ordinary readers (the SQL
  query's :window_start/:window_end, the API's changed_from/changed_to), and the cursor moves to as_of;
* file drops: the watched files (the last few days' drops, or the one history file) are read when they
  are new or changed since they were last read (name + content hash recorded).

Rows are appended to the normal landing tables: staging keeps the newest version of a row and counts a
re-read event once, so reading a change twice is harmless, and the daily job, which replaces whole day
partitions, later puts back exactly what it would have landed anyway. The cursor moves only after the
rows are landed: a crash in between re-reads the same changes next time (at least once, deduplicated).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd

from orchestration.landing.batch import ensure_landing
from orchestration.landing.normalise import Extract, normalise
from orchestration.landing.tables import (
    EXTRACTION_LOG,
    LANDING_BY_SHAPE,
    PROCESSED_FILES,
    QUARANTINE,
    SOURCE_CURSORS,
    UNBUILT_CHANGES,
)
from orchestration.monitoring.config import Evaluation
from orchestration.periods import Window
from orchestration.reference.catalogue import Catalogue
from orchestration.settings import Settings
from orchestration.sources.config import SourceConfig
from orchestration.sources.file import file_path, is_daily, read_file
from orchestration.sources.read import read
from orchestration.warehouse import Warehouse


@dataclass(frozen=True)
class Increment:
    source_system: str
    read_from: datetime | None  # None for files
    files: tuple[str, ...]
    received: int
    accepted: int
    quarantined: int


def ensure_tables(warehouse: Warehouse) -> None:
    ensure_landing(warehouse)


def unbuilt_since(warehouse: Warehouse) -> datetime:
    """The landing instant from which rows wait for dbt: now, unless an earlier evaluation landed rows and
    failed before its dbt build, whose work orders must be rebuilt too. Call before landing."""
    table = f"{warehouse.landing_schema}.{UNBUILT_CHANGES.name}"
    found = warehouse.execute(f"select min(since) from {table}")
    if found and found[0][0] is not None:
        return pd.Timestamp(found[0][0]).to_pydatetime().replace(tzinfo=UTC)
    since = datetime.now(UTC)
    warehouse.execute(f"insert into {table} values (%s)", [_naive_utc(since)])
    return since


def mark_built(warehouse: Warehouse) -> None:
    """dbt has rebuilt every work order landed so far."""
    warehouse.execute(f"delete from {warehouse.landing_schema}.{UNBUILT_CHANGES.name}")


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Increments:
    """What one evaluation reads with: the evaluation settings, the catalogue, and the pipeline settings."""

    settings: Settings
    catalogue: Catalogue
    evaluation: Evaluation

    def business_date(self, moment: datetime) -> date:
        return moment.astimezone(self.settings.business_time_zone).date()

    def days(self, first: date, last: date) -> Window:
        return Window.for_days(first, last, self.settings.business_time_zone)


def _since(warehouse: Warehouse, cfg: SourceConfig, as_of: datetime, inc: Increments) -> datetime:
    """The cursor; without one, the end of the last day the daily job landed (bounded by the lookback)."""
    schema = warehouse.landing_schema
    found = warehouse.execute(
        f"select cursor_at from {schema}.{SOURCE_CURSORS.name} where source_system = %s", [cfg.name]
    )
    if found and found[0][0] is not None:
        return pd.Timestamp(found[0][0]).to_pydatetime().replace(tzinfo=UTC)
    floor = as_of - timedelta(seconds=inc.evaluation.initial_lookback)
    landed = warehouse.execute(
        f"select max(partition_date) from {schema}.{EXTRACTION_LOG.name} where source_system = %s", [cfg.name]
    )
    if landed and landed[0][0] is not None:
        day = pd.Timestamp(landed[0][0]).date() + timedelta(days=1)
        return min(max(floor, inc.days(day, day).start_utc), as_of)
    return floor


def _land(warehouse: Warehouse, result: Extract) -> None:
    warehouse.append(LANDING_BY_SHAPE[result.shape].name, result.rows)
    warehouse.append(QUARANTINE.name, result.quarantine)


def _record_cursor(
    warehouse: Warehouse, name: str, cursor: datetime | None, as_of: datetime, counts: tuple[int, int, int]
) -> None:
    """Upsert the source's cursor (kept when None) and the counts of its last increment."""
    values = [name, None if cursor is None else _naive_utc(cursor), _naive_utc(as_of), *counts]
    keep_cursor = "excluded.cursor_at" if cursor is not None else "source_cursors.cursor_at"
    warehouse.execute(
        f"insert into {warehouse.landing_schema}.{SOURCE_CURSORS.name} as source_cursors "
        "values (%s, %s, %s, %s, %s, %s) "
        f"on conflict (source_system) do update set cursor_at = {keep_cursor}, evaluated_at = excluded.evaluated_at, "
        "rows_received = excluded.rows_received, rows_accepted = excluded.rows_accepted, "
        "rows_quarantined = excluded.rows_quarantined",
        values,
    )


def _increment_of_queryable(warehouse: Warehouse, cfg: SourceConfig, as_of: datetime, inc: Increments) -> Increment:
    read_from = _since(warehouse, cfg, as_of, inc) - timedelta(seconds=inc.evaluation.cursor_overlap)
    raw = read(cfg, Window(read_from, as_of, inc.settings.business_time_zone))
    # Partitions: the business days the read spans, today included.
    days = inc.days(inc.business_date(read_from), inc.business_date(as_of))
    result = normalise(cfg, raw, days, inc.catalogue)
    _land(warehouse, result)
    counts = (result.received, result.accepted, len(result.quarantine))
    _record_cursor(warehouse, cfg.name, as_of, as_of, counts)
    return Increment(cfg.name, read_from, (), *counts)


def _watched_files(cfg: SourceConfig, as_of: datetime, inc: Increments) -> list[tuple[Path, Window]]:
    """(file, window to normalise it with) for each file that exists among the watched ones."""
    today = inc.business_date(as_of)
    if not is_daily(cfg):
        path = file_path(cfg)
        return [(path, inc.days(inc.settings.history_start, today))] if path.exists() else []
    watched = []
    for back in range(inc.evaluation.file_lookback_days - 1, -1, -1):
        day = today - timedelta(days=back)
        if file_path(cfg, day).exists():
            watched.append((file_path(cfg, day), inc.days(day, day)))
    return watched


def _increment_of_files(warehouse: Warehouse, cfg: SourceConfig, as_of: datetime, inc: Increments) -> Increment:
    schema = warehouse.landing_schema
    read = {
        (name, digest)
        for name, digest in warehouse.execute(
            f"select file_name, content_sha256 from {schema}.{PROCESSED_FILES.name} where source_system = %s",
            [cfg.name],
        )
    }
    totals = (0, 0, 0)
    names = []
    for path, window in _watched_files(cfg, as_of, inc):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if (path.name, digest) in read:
            continue
        result = normalise(cfg, read_file(cfg, window), window, inc.catalogue)
        _land(warehouse, result)
        warehouse.append(
            PROCESSED_FILES.name,
            pd.DataFrame(
                {
                    "source_system": [cfg.name],
                    "file_name": [path.name],
                    "content_sha256": [digest],
                    "read_at": [_naive_utc(as_of)],
                }
            ),  # fmt: skip
            skip_existing=True,
        )
        names.append(path.name)
        totals = (totals[0] + result.received, totals[1] + result.accepted, totals[2] + len(result.quarantine))
    _record_cursor(warehouse, cfg.name, None, as_of, totals)
    return Increment(cfg.name, None, tuple(names), *totals)


def extract_increment(warehouse: Warehouse, cfg: SourceConfig, as_of: datetime, inc: Increments) -> Increment:
    """Land one source's changes up to as_of (aware)."""
    if cfg.kind == "file":
        return _increment_of_files(warehouse, cfg, as_of, inc)
    return _increment_of_queryable(warehouse, cfg, as_of, inc)
