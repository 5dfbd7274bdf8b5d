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

A reporting view is not read for its digest when what it reads says what changed (`reads`, from the dbt
manifest): a view is a function of the relations it reads, and each of the views joins its marts and
dimensions on `period_id`, so its periods can differ from its copy's only where a relation it reads changed
(rpt_node_run_states, a join over three grains of every period, cost most of one more day's snapshot at a
year of history). Unchanged reads leave the view as it is; reads changed in some periods have the view
compared in those periods only; a read changed whole, one not in the snapshot (a staging view), or a view
definition other than the one the snapshot's copies were made with (`views_fingerprint`, kept in the
snapshot's schema `_snapshot`) has it compared whole, as before.

The digests of the copies are kept in the snapshot too (`_snapshot.digests`), as each publish leaves
them: a copy is read for its digest only when none is kept (a first publish, a copy made whole by the live
evaluation), so a publish reads each mart once.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestration.reporting.views import catalog
from orchestration.warehouse import Warehouse

SNAPSHOT_SUFFIX = "_readonly"
PERIOD_KEY = "period_id"
# Above this share of a relation's periods changed, copying it whole is cheaper than deleting and inserting.
WHOLE_ABOVE = 0.5
# The snapshot's own records, in a schema of their own: the fingerprint of the reporting views its copies
# were made with, and the digests of its copies.
RECORDS_SCHEMA = "_snapshot"
VIEWS_RECORD = f"{RECORDS_SCHEMA}.views"
DIGESTS_RECORD = f"{RECORDS_SCHEMA}.digests"
WHOLE = None  # a relation changed as a whole (or compared whole), as opposed to a set of its periods


def snapshot_path(warehouse: Warehouse) -> Path:
    """`<dir>/<name>_readonly.duckdb` beside the warehouse file (data/warehouse_readonly.duckdb by default)."""
    path = Path(warehouse.duckdb_path)
    return path.with_name(f"{path.stem}{SNAPSHOT_SUFFIX}{path.suffix or '.duckdb'}")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish_snapshot(
    warehouse: Warehouse,
    only: Sequence[str] = (),
    reads: Mapping[str, Collection[str]] | None = None,
    views_fingerprint: str | None = None,
) -> dict[str, int] | None:
    """Bring the marts and the reporting views into a new snapshot, from the previous one, and swap it in
    atomically; returns the rows written per relation (`schema.name`) whose copy changed. With `only` (e.g.
    the live evaluation's two relations, every 15 minutes) just those are copied, whole, without comparing.
    `reads` (view -> the relations it reads) with the views' fingerprint lets a view follow what it reads
    (module docstring). None on PostgreSQL, whose readers use the BI role instead."""
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
            written = _publish(conn, schemas, only, previous, reads or {}, views_fingerprint)
            # Written to the file before it is renamed: a commit leaves the changes in the file's WAL, which
            # only a checkpoint (here, detaching) moves in (the WAL would not follow the rename).
            conn.commit()
            conn.execute("detach snapshot")
            conn.begin()
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _publish(
    conn: Any,
    schemas: list[str],
    only: Sequence[str],
    previous: bool,
    reads: Mapping[str, Collection[str]],
    views_fingerprint: str | None,
) -> dict[str, int]:
    listed = ", ".join(_quoted(s) for s in schemas)
    relations = sorted(f"{s}.{n}" for s, n in catalog(conn, "duckdb", schemas)[0])
    for schema in [*schemas, RECORDS_SCHEMA]:
        conn.execute(f"create schema if not exists snapshot.{schema}")
    if only and previous:
        relations = [r for r in relations if r in only]
    elif previous:
        _drop_what_is_gone(conn, listed, relations)
    columns = {**_columns(conn, "current_database()", listed), **_columns(conn, "'snapshot'", listed)}
    kept = _KeptDigests(conn, previous)
    recorded = _views_recorded(conn) if previous else None
    follow = bool(reads) and not only and views_fingerprint is not None and recorded == views_fingerprint
    # Relations that read none of the others first: a view then knows what its reads' copies took.
    relations.sort(key=lambda r: follow and r in reads)
    written: dict[str, int] = {}
    changed: dict[str, set[Any] | None] = {}
    for relation in relations:
        if not previous or only:
            rows = _copy(conn, relation)
            kept.forget(relation)
        elif follow and relation in reads:
            reads_changed = [changed.get(r, WHOLE) for r in reads[relation]]
            rows = _refresh_view(conn, relation, columns, reads_changed, kept)
        else:
            rows, changed[relation] = _refresh(conn, relation, columns, kept)
        if rows is not None:
            written[relation] = rows
    _comment(conn, listed, relations)
    kept.write()
    if not only:
        conn.execute(f"create or replace table snapshot.{VIEWS_RECORD} (fingerprint varchar)")
        if views_fingerprint is not None:
            conn.execute(f"insert into snapshot.{VIEWS_RECORD} values ({_quoted(views_fingerprint)})")
    return written


def _recorded(conn: Any, record: str) -> bool:
    schema, table = record.split(".")
    return bool(
        conn.execute(
            "select count(*) from duckdb_tables() where database_name = 'snapshot' "
            f"and schema_name = {_quoted(schema)} and table_name = {_quoted(table)}"
        ).fetchone()[0]
    )


class _KeptDigests:
    """The digests of the snapshot's copies (per relation: per period, or under None), as kept in the
    snapshot by the last publish and brought level here as copies change."""

    def __init__(self, conn: Any, previous: bool) -> None:
        self.conn = conn
        self.known: dict[str, dict[Any, tuple[int, int]]] = {}
        if previous and _recorded(conn, DIGESTS_RECORD):
            for relation, key, n, h in conn.execute(
                f"select relation, period, n, h from snapshot.{DIGESTS_RECORD}"
            ).fetchall():
                digests = self.known.setdefault(relation, {})
                if n:  # a row with none: an empty copy
                    digests[key] = (n, int(h))

    def of(self, relation: str, within: Collection[Any]) -> dict[Any, tuple[int, int]] | None:
        known = self.known.get(relation)
        if known is None or not within:
            return known
        return {k: v for k, v in known.items() if k in within}

    def level(self, relation: str, source: dict[Any, tuple[int, int]], within: Collection[Any]) -> None:
        """The copy now holds `source`'s rows: all of them, or those of the periods `within`."""
        if not within:
            self.known[relation] = dict(source)
        elif relation in self.known:
            digests = self.known[relation]
            for key in within:
                digests.pop(key, None)
            digests.update(source)

    def forget(self, relation: str) -> None:
        self.known.pop(relation, None)

    def write(self) -> None:
        import pandas as pd

        rows = [(r, None if k is None else str(k), n, str(h)) for r, ds in self.known.items()
                for k, (n, h) in (ds.items() or [(None, (0, 0))])]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["relation", "period", "n", "h"]).astype(
            {"relation": "string", "period": "string", "n": "int64", "h": "string"}
        )
        self.conn.register("kept_digests", frame)
        self.conn.execute(
            f"create or replace table snapshot.{DIGESTS_RECORD} as select relation::varchar as relation, "
            "period::varchar as period, n::bigint as n, h::varchar as h from kept_digests"
        )
        self.conn.unregister("kept_digests")


def _views_recorded(conn: Any) -> str | None:
    if not _recorded(conn, VIEWS_RECORD):
        return None
    row = conn.execute(f"select fingerprint from snapshot.{VIEWS_RECORD}").fetchone()
    return row[0] if row else None


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
        f"and schema_name not in ({listed}, 'main', {_quoted(RECORDS_SCHEMA)})"
    ).fetchall():
        conn.execute(f"drop schema snapshot.{_ident(schema)} cascade")
    for schema, name in conn.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'snapshot' "
        f"and schema_name <> {_quoted(RECORDS_SCHEMA)}"
    ).fetchall():
        if f"{schema}.{name}" not in relations:
            conn.execute(f"drop table snapshot.{_ident(schema)}.{_ident(name)}")


def _copy(conn: Any, relation: str) -> int:
    # A view becomes a table: the snapshot stands alone, and readers get the rows without the joins.
    conn.execute(f"create or replace table snapshot.{relation} as select * from {relation}")
    return conn.execute(f"select count(*) from snapshot.{relation}").fetchone()[0]


def _digests(conn: Any, relation: str, key: str | None, within: str = "") -> dict[Any, tuple[int, int]]:
    """Per key value (or for the whole relation, under None): its row count and the sum of its row hashes;
    `within`, a list of key values, limits it to those."""
    group = f"{key}, " if key else "null, "
    by = f" group by {key}" if key else ""
    where = f" where {key} in ({within})" if key and within else ""
    # The alias stands for the whole row (a struct of its columns); no relation has a column of that name.
    rows = conn.execute(
        f"select {group}count(*), sum(hash(_row)::hugeint) from {relation} as _row{where}{by}"
    ).fetchall()
    return {k: (n, h) for k, n, h in rows if n}


def _values(keys: Collection[Any]) -> str:
    return ", ".join(_quoted(str(k)) for k in sorted(keys, key=str))


def _period_key(columns: dict[tuple[str, str], list[tuple[str, str]]], relation: str) -> str | None:
    wanted = columns.get(("warehouse", relation)) or []
    return PERIOD_KEY if any(name == PERIOD_KEY for name, _ in wanted) else None


def _refresh(
    conn: Any,
    relation: str,
    columns: dict[tuple[str, str], list[tuple[str, str]]],
    kept: _KeptDigests,
    within: Collection[Any] = (),
) -> tuple[int | None, set[Any] | None]:
    """Bring the snapshot's copy of one relation level with it, comparing only the periods `within` when
    given: (the rows written, None when it already was; the periods that differed, None when compared or
    copied whole)."""
    if columns.get(("snapshot", relation)) != columns.get(("warehouse", relation)):  # not copied yet, or
        kept.forget(relation)  # other columns or types
        return _copy(conn, relation), WHOLE
    key = _period_key(columns, relation)
    within = within if key else ()
    limit = _values(within) if within else ""
    copy = kept.of(relation, within)
    if copy is None:
        copy = _digests(conn, f"snapshot.{relation}", key, limit)
    if not copy and not limit:  # an empty copy (a view before its marts existed): no need to read it twice
        kept.forget(relation)
        rows = _copy(conn, relation)
        return rows or None, WHOLE
    source = _digests(conn, relation, key, limit)
    kept.level(relation, source, within)
    if source == copy:
        return None, set()
    changed = {k for k in source.keys() | copy.keys() if source.get(k) != copy.get(k)}
    if key is None or None in changed or (not limit and len(changed) > WHOLE_ABOVE * max(len(source), 1)):
        return _copy(conn, relation), WHOLE
    values = _values(changed)
    conn.execute(f"delete from snapshot.{relation} where {key} in ({values})")
    inserted = conn.execute(f"insert into snapshot.{relation} select * from {relation} where {key} in ({values})")
    return inserted.fetchone()[0], changed


def _refresh_view(
    conn: Any,
    relation: str,
    columns: dict[tuple[str, str], list[tuple[str, str]]],
    reads_changed: list[set[Any] | None],
    kept: _KeptDigests,
) -> int | None:
    """A reporting view, from what changed in the relations it reads (module docstring)."""
    if columns.get(("snapshot", relation)) == columns.get(("warehouse", relation)) and all(
        c is not WHOLE and not c for c in reads_changed
    ):
        return None  # nothing it reads changed
    if any(c is WHOLE for c in reads_changed):
        return _refresh(conn, relation, columns, kept)[0]
    return _refresh(conn, relation, columns, kept, set().union(*reads_changed))[0]


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
