"""The read-only DuckDB snapshot that BI tools and the dashboard open instead of the warehouse.

DuckDB lets one process write a file, and a reader holding it (even read-only) makes the pipeline's next
write fail to lock it. So after every job the marts (`<schema>`) and the reporting views
(`<schema>_reporting`, copied as tables, with their descriptions) are brought into a new file beside the
warehouse, `<warehouse>_readonly.duckdb`, which then replaces the previous snapshot by a rename. A reader
with the old snapshot open keeps reading it undisturbed; the next connection opens the new one. Landing,
staging and the quarantine (raw source rows) are not copied.

The new file starts as a copy of the previous snapshot (a file copy), and only what differs is written into
it: a job changes a few periods of a few marts, and copying the whole history after each one cost seconds.
Each relation is compared with its copy by a digest of its rows (count and sum of row hashes), per period
(`period_id`) where it has one, as a whole otherwise: equal, it is left; a few periods differ, their rows are
deleted and copied again; otherwise (new columns, most periods, no period) the table is copied whole. Reading
every relation for its digest costs a fraction of writing it; nothing is assumed about what the job changed,
so a snapshot that missed a publish (a failed step, a run elsewhere) is brought level all the same.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestration.reporting.views import catalog
from orchestration.warehouse import Warehouse

SNAPSHOT_SUFFIX = "_readonly"
PERIOD_KEY = "period_id"
# Above this share of a relation's periods changed, copying it whole is cheaper than deleting and inserting.
WHOLE_ABOVE = 0.5


def snapshot_path(warehouse: Warehouse) -> Path:
    """`<dir>/<name>_readonly.duckdb` beside the warehouse file (data/warehouse_readonly.duckdb by default)."""
    path = Path(warehouse.duckdb_path)
    return path.with_name(f"{path.stem}{SNAPSHOT_SUFFIX}{path.suffix or '.duckdb'}")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish_snapshot(warehouse: Warehouse, only: Sequence[str] = ()) -> dict[str, int] | None:
    """Bring the marts and the reporting views into a new snapshot, from the previous one, and swap it in
    atomically; returns the rows written per relation (`schema.name`) whose copy changed. With `only` (e.g.
    the live evaluation's two relations, every 15 minutes) just those are copied, whole, without comparing.
    None on PostgreSQL, whose readers use the BI role instead."""
    if warehouse.target != "duckdb":
        return None
    final = snapshot_path(warehouse)
    partial = final.with_name(f".{final.name}.{os.getpid()}.partial")
    for leftover in (partial, partial.with_name(partial.name + ".wal")):
        leftover.unlink(missing_ok=True)
    schemas = [warehouse.schema_name, warehouse.reporting_schema]
    previous = final.exists()
    if previous:
        shutil.copyfile(final, partial)
    try:
        with warehouse.connect() as conn:
            conn.execute(f"attach {_quoted(str(partial))} as snapshot")
            written = _publish(conn, schemas, only, previous)
            # Written to the file before it is renamed: a commit leaves the changes in the file's WAL, which
            # only a checkpoint (here, detaching) moves in (the WAL would not follow the rename).
            conn.commit()
            conn.execute("detach snapshot")
            conn.begin()
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _publish(conn: Any, schemas: list[str], only: Sequence[str], previous: bool) -> dict[str, int]:
    listed = ", ".join(_quoted(s) for s in schemas)
    relations = sorted(f"{s}.{n}" for s, n in catalog(conn, "duckdb", schemas)[0])
    for schema in schemas:
        conn.execute(f"create schema if not exists snapshot.{schema}")
    if only and previous:
        relations = [r for r in relations if r in only]
    elif previous:
        _drop_what_is_gone(conn, listed, relations)
    columns = {**_columns(conn, "current_database()", listed), **_columns(conn, "'snapshot'", listed)}
    written = {}
    for relation in relations:
        rows = _refresh(conn, relation, columns) if previous and not only else _copy(conn, relation)
        if rows is not None:
            written[relation] = rows
    _comment(conn, listed, relations)
    return written


def _columns(conn: Any, database: str, listed: str) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Per (database, relation): its columns and types, in order."""
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for db, schema, name, column, data_type in conn.execute(
        f"select database_name, schema_name, table_name, column_name, data_type from duckdb_columns() "
        f"where database_name = {database} and schema_name in ({listed}) order by column_index"
    ).fetchall():
        key = ("snapshot" if db == "snapshot" else "warehouse", f"{schema}.{name}")
        out.setdefault(key, []).append((column, data_type))
    return out


def _drop_what_is_gone(conn: Any, listed: str, relations: list[str]) -> None:
    """What the previous snapshot holds and the warehouse no longer does (a model removed, the schema
    renamed): the snapshot holds what a new copy of the warehouse would."""
    for (schema,) in conn.execute(
        "select schema_name from duckdb_schemas() where database_name = 'snapshot' and not internal "
        f"and schema_name not in ({listed}, 'main')"
    ).fetchall():
        conn.execute(f"drop schema snapshot.{_ident(schema)} cascade")
    for schema, name in conn.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'snapshot'"
    ).fetchall():
        if f"{schema}.{name}" not in relations:
            conn.execute(f"drop table snapshot.{_ident(schema)}.{_ident(name)}")


def _copy(conn: Any, relation: str) -> int:
    # A view becomes a table: the snapshot stands alone, and readers get the rows without the joins.
    conn.execute(f"create or replace table snapshot.{relation} as select * from {relation}")
    return conn.execute(f"select count(*) from snapshot.{relation}").fetchone()[0]


def _digests(conn: Any, relation: str, key: str | None) -> dict[Any, tuple[int, int]]:
    """Per key value (or for the whole relation, under None): its row count and the sum of its row hashes."""
    group = f"{key}, " if key else "null, "
    by = f" group by {key}" if key else ""
    # The alias stands for the whole row (a struct of its columns); no relation has a column of that name.
    rows = conn.execute(f"select {group}count(*), sum(hash(_row)::hugeint) from {relation} as _row{by}").fetchall()
    return {k: (n, h) for k, n, h in rows if n}


def _refresh(conn: Any, relation: str, columns: dict[tuple[str, str], list[tuple[str, str]]]) -> int | None:
    """Bring the snapshot's copy of one relation level with it; the rows written, None when it already was."""
    wanted = columns.get(("warehouse", relation))
    if columns.get(("snapshot", relation)) != wanted:  # not copied yet, or other columns or types
        return _copy(conn, relation)
    key = PERIOD_KEY if any(name == PERIOD_KEY for name, _ in wanted or []) else None
    copy = _digests(conn, f"snapshot.{relation}", key)
    if not copy:  # an empty copy (a view before its marts existed): no need to read the relation twice
        rows = _copy(conn, relation)
        return rows or None
    source = _digests(conn, relation, key)
    if source == copy:
        return None
    changed = {k for k in source.keys() | copy.keys() if source.get(k) != copy.get(k)}
    if key is None or None in changed or len(changed) > WHOLE_ABOVE * max(len(source), 1):
        return _copy(conn, relation)
    values = ", ".join(_quoted(str(k)) for k in sorted(changed, key=str))
    conn.execute(f"delete from snapshot.{relation} where {key} in ({values})")
    inserted = conn.execute(f"insert into snapshot.{relation} select * from {relation} where {key} in ({values})")
    return inserted.fetchone()[0]


def _comment(conn: Any, listed: str, relations: list[str]) -> None:
    """The descriptions dbt persisted (tables and columns), where the snapshot's differ: a table copied whole
    has none, one refreshed keeps its own."""

    def comments(database: str) -> dict[tuple[str, str], str | None]:
        found = conn.execute(
            "select schema_name || '.' || table_name, '', comment from duckdb_tables() "
            f"where database_name = {database} and schema_name in ({listed}) "
            "union all select schema_name || '.' || view_name, '', comment from duckdb_views() "
            f"where database_name = {database} and schema_name in ({listed}) and not internal "
            "union all select schema_name || '.' || table_name, column_name, comment from duckdb_columns() "
            f"where database_name = {database} and schema_name in ({listed})"
        ).fetchall()
        return {(relation, column): comment for relation, column, comment in found if relation in relations}

    have = comments("'snapshot'")
    for (relation, column), comment in comments("current_database()").items():
        if have.get((relation, column)) == comment:
            continue
        text = "null" if comment is None else _quoted(comment)
        if column:
            conn.execute(f"comment on column snapshot.{relation}.{_ident(column)} is {text}")
        else:
            conn.execute(f"comment on table snapshot.{relation} is {text}")
