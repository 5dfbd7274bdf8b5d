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

from orchestration.catalog import Catalogue
from orchestration.monitoring.config import Evaluation
from orchestration.settings import PROJECT_DIR, data_dir, pipeline_settings
from orchestration.sources.config import SourceConfig
from orchestration.sources.extract import LANDING_TABLE, READERS
from orchestration.sources.file import _path_template, is_daily
from orchestration.sources.normalise import Extract, normalise
from orchestration.sources.window import Window
from orchestration.warehouse import Warehouse

CURSORS_DDL = """
    source_system varchar primary key, cursor_at timestamp, evaluated_at timestamp,
    rows_received bigint, rows_accepted bigint, rows_quarantined bigint"""
FILES_DDL = """
    source_system varchar, file_name varchar, content_sha256 varchar, read_at timestamp,
    primary key (source_system, file_name, content_sha256)"""


@dataclass(frozen=True)
class Increment:
    source_system: str
    read_from: datetime | None  # None for files
    files: tuple[str, ...]
    received: int
    accepted: int
    quarantined: int


def ensure_tables(warehouse: Warehouse) -> None:
    warehouse.ensure_landing()
    schema = warehouse.landing_schema
    warehouse.execute(f"create table if not exists {schema}.source_cursors ({CURSORS_DDL})")
    warehouse.execute(f"create table if not exists {schema}.processed_files ({FILES_DDL})")
    warehouse.execute(f"create table if not exists {schema}.unbuilt_changes (since timestamp)")


def unbuilt_since(warehouse: Warehouse) -> datetime:
    """The landing instant from which rows wait for dbt: now, unless an earlier evaluation landed rows and
    failed before its dbt build, whose work orders must be rebuilt too. Call before landing."""
    table = f"{warehouse.landing_schema}.unbuilt_changes"
    found = warehouse.execute(f"select min(since) from {table}")
    if found and found[0][0] is not None:
        return pd.Timestamp(found[0][0]).to_pydatetime().replace(tzinfo=UTC)
    since = datetime.now(UTC)
    warehouse.execute(f"insert into {table} values (%s)", [_naive_utc(since)])
    return since


def mark_built(warehouse: Warehouse) -> None:
    """dbt has rebuilt every work order landed so far."""
    warehouse.execute(f"delete from {warehouse.landing_schema}.unbuilt_changes")


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _business_date(moment: datetime) -> date:
    return moment.astimezone(pipeline_settings().business_time_zone).date()


def _since(warehouse: Warehouse, cfg: SourceConfig, as_of: datetime, evaluation: Evaluation) -> datetime:
    """The cursor; without one, the end of the last day the daily job landed (bounded by the lookback)."""
    schema = warehouse.landing_schema
    found = warehouse.execute(f"select cursor_at from {schema}.source_cursors where source_system = %s", [cfg.name])
    if found and found[0][0] is not None:
        return pd.Timestamp(found[0][0]).to_pydatetime().replace(tzinfo=UTC)
    floor = as_of - timedelta(seconds=evaluation.initial_lookback)
    landed = warehouse.execute(
        f"select max(partition_date) from {schema}.extraction_log where source_system = %s", [cfg.name]
    )
    if landed and landed[0][0] is not None:
        day = pd.Timestamp(landed[0][0]).date() + timedelta(days=1)
        return min(max(floor, Window.for_days(day, day).start.astimezone(UTC)), as_of)
    return floor


def _land(warehouse: Warehouse, result: Extract) -> None:
    warehouse.append(LANDING_TABLE[result.shape], result.rows)
    warehouse.append("quarantine", result.quarantine)


def _record_cursor(
    warehouse: Warehouse, name: str, cursor: datetime | None, as_of: datetime, counts: tuple[int, int, int]
) -> None:
    """Upsert the source's cursor (kept when None) and the counts of its last increment."""
    values = [name, None if cursor is None else _naive_utc(cursor), _naive_utc(as_of), *counts]
    keep_cursor = "excluded.cursor_at" if cursor is not None else "source_cursors.cursor_at"
    warehouse.execute(
        f"insert into {warehouse.landing_schema}.source_cursors as source_cursors values (%s, %s, %s, %s, %s, %s) "
        f"on conflict (source_system) do update set cursor_at = {keep_cursor}, evaluated_at = excluded.evaluated_at, "
        "rows_received = excluded.rows_received, rows_accepted = excluded.rows_accepted, "
        "rows_quarantined = excluded.rows_quarantined",
        values,
    )


def _increment_of_queryable(
    warehouse: Warehouse, cfg: SourceConfig, catalogue: Catalogue, as_of: datetime, evaluation: Evaluation
) -> Increment:
    read_from = _since(warehouse, cfg, as_of, evaluation) - timedelta(seconds=evaluation.cursor_overlap)
    raw = READERS[cfg.kind](cfg, Window(read_from, as_of))
    # Partitions: the business days the read spans, today included.
    result = normalise(cfg, raw, Window.for_days(_business_date(read_from), _business_date(as_of)), catalogue)
    _land(warehouse, result)
    counts = (result.received, result.accepted, len(result.quarantine))
    _record_cursor(warehouse, cfg.name, as_of, as_of, counts)
    return Increment(cfg.name, read_from, (), *counts)


def _watched_files(cfg: SourceConfig, as_of: datetime, evaluation: Evaluation) -> list[tuple[Path, Window]]:
    """(file, window to normalise it with) for each file that exists among the watched ones."""
    template = _path_template(cfg)
    fmt = {"data_dir": data_dir(), "project_dir": PROJECT_DIR}
    today = _business_date(as_of)
    if not is_daily(cfg):
        path = Path(template.format(**fmt))
        everything = Window.for_days(pipeline_settings().history_start, today)
        return [(path, everything)] if path.exists() else []
    watched = []
    for back in range(evaluation.file_lookback_days - 1, -1, -1):
        day = today - timedelta(days=back)
        path = Path(template.format(date=day, **fmt))
        if path.exists():
            watched.append((path, Window.for_days(day, day)))
    return watched


def _increment_of_files(
    warehouse: Warehouse, cfg: SourceConfig, catalogue: Catalogue, as_of: datetime, evaluation: Evaluation
) -> Increment:
    schema = warehouse.landing_schema
    read = {
        (name, digest)
        for name, digest in warehouse.execute(
            f"select file_name, content_sha256 from {schema}.processed_files where source_system = %s", [cfg.name]
        )
    }
    totals = (0, 0, 0)
    names = []
    for path, window in _watched_files(cfg, as_of, evaluation):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if (path.name, digest) in read:
            continue
        result = normalise(cfg, READERS["file"](cfg, window), window, catalogue)
        _land(warehouse, result)
        warehouse.append(
            "processed_files",
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


def extract_increment(
    warehouse: Warehouse, cfg: SourceConfig, catalogue: Catalogue, as_of: datetime, evaluation: Evaluation
) -> Increment:
    """Land one source's changes up to as_of (aware)."""
    if cfg.kind == "file":
        return _increment_of_files(warehouse, cfg, catalogue, as_of, evaluation)
    return _increment_of_queryable(warehouse, cfg, catalogue, as_of, evaluation)
