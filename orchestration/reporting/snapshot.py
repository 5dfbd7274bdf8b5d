"""The read-only DuckDB snapshot that BI tools and the dashboard open instead of the warehouse.

DuckDB lets one process write a file, and a reader holding it (even read-only) makes the pipeline's next
write fail to lock it. So after every job the marts (`<schema>`) and the reporting views
(`<schema>_reporting`) are brought into a new file beside the warehouse, `<warehouse>_readonly.duckdb`, which
then replaces the previous snapshot by a rename. A reader with the old snapshot open keeps reading it
undisturbed; the next connection opens the new one. Landing, staging and the quarantine (raw source rows)
are not copied.

The new file starts as a copy of the previous snapshot (a file copy), and only what differs is written into
it: a job changes a few periods of a few marts, and copying the whole history after each one cost seconds.
Each table is compared with its copy by a digest of its rows (count and sum of row hashes), per period
(`period_id`) where it has one, else per day its runs started (`start_at`: fct_node_runs, whose rows a job
changes for the work orders it landed, mostly of recent days), as a whole otherwise: equal, it is left; a few
periods or days differ, their rows are deleted and copied again; otherwise (new columns, most of them, none)
the table is copied whole. Copied whole after each day, fct_node_runs was most of one more day's reporting
step at 10M node runs (14 s). Reading a table for its digest costs a fraction of writing it; nothing is
assumed about which periods the job changed, so a snapshot that missed a publish (a failed step, a run
elsewhere) is brought level all the same. The digests of the copies are kept in the snapshot
(`_snapshot.digests`), as each publish leaves them (a copy made whole has its digests read with it), so a
publish reads each mart it compares once; a copy is read for its digests only when none are kept (a snapshot
written by an earlier version).

A mart is read only where dbt has written it since its copy was levelled. Every build of a mart records, in
`<schema>_landing.mart_writes` (dbt_project/macros/reporting/mart_writes.sql), a new write id and what it may
have changed: the periods starting in its window, for a period mart updated by period, else the whole table;
the range grows until a publish has copied it. The snapshot keeps the id each copy was levelled at
(`_snapshot.writes`). The same id: the same rows, not read. A range whose base is the copy's id: only the
periods in it are compared (the mart's digests read, the copy's as kept), and each publish empties the range it
levelled. Any other: the whole mart is compared, as above. A job writes the marts of its grain, and a day one
period of each: otherwise the weekly and monthly jobs' publishes read every daily mart again, and each day every
mart whole.
This trusts that marts are written by dbt only, as the pipeline does; a relation without a recorded write (a
view copied as a table, a table written by hand) is compared whole after every job, as before.

A reporting view is a view in the snapshot too, with the warehouse's definition, when every relation it
reads (`reads`, from the dbt manifest) is in the snapshot: DuckDB binds a view's names in the database that
holds it, so it reads the snapshot's own copies and the snapshot still stands alone. It is then written only
when its definition changes. rpt_node_run_states, the three grains of node_run_states_* with names and local
times, was otherwise a second copy of every classified run, rewritten in each period a job rebuilt: at a
million node runs, 3.1M wide rows and a quarter of the reporting step. A view that reads something the
snapshot does not hold (rpt_data_quality reads the landing tables), or whose reads are not known (the live
evaluation's publish of its two relations), is copied as a table and compared like one.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from orchestration.reporting.views import catalog
from orchestration.warehouse import Warehouse

SNAPSHOT_SUFFIX = "_readonly"
PERIOD_KEY = "period_id"
# A table without periods but with runs' starts is compared per start day (a string, as kept digests are).
START_DAY_KEY = "cast(cast(start_at as date) as varchar)"
# Above this share of a relation's periods changed, copying it whole is cheaper than deleting and inserting.
WHOLE_ABOVE = 0.5
# The snapshot's own records, in a schema of their own: the digests of its copies, and the write id of the
# warehouse's mart each copy was levelled at.
RECORDS_SCHEMA = "_snapshot"
DIGESTS_RECORD = f"{RECORDS_SCHEMA}.digests"
WRITES_RECORD = f"{RECORDS_SCHEMA}.writes"
# Where every build of a mart records its write id and what it may have changed (macros/reporting/mart_writes.sql).
MART_WRITES = "mart_writes"
# What earlier versions recorded there (the views' fingerprint their copies followed), dropped when found.
RETIRED_RECORDS = (f"{RECORDS_SCHEMA}.views",)


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
) -> dict[str, int] | None:
    """Bring the marts and the reporting views into a new snapshot, from the previous one, and swap it in
    atomically; returns the rows written per relation (`schema.name`) whose copy changed, 0 for a view
    (re)defined. With `only` (e.g. the live evaluation's two relations, every 15 minutes) just those are
    copied, whole, without comparing. `reads` (view -> the relations it reads) lets a view be a view in the
    snapshot (module docstring). None on PostgreSQL, whose readers use the BI role instead."""
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
            written, kept = _publish(conn, schemas, only, previous, reads or {})
            # Written to the file before it is renamed: a commit leaves the changes in the file's WAL, which
            # only a checkpoint (here, detaching) moves in (the WAL would not follow the rename).
            conn.commit()
            conn.execute("detach snapshot")
            conn.begin()
            # A transaction writes to one database: the warehouse's record after the snapshot's.
            _empty_levelled_ranges(conn, warehouse.schema_name, kept)
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
) -> tuple[dict[str, int], _KeptDigests]:
    listed = ", ".join(_quoted(s) for s in schemas)
    found, sql = catalog(conn, "duckdb", schemas)
    relations = sorted(f"{s}.{n}" for s, n in found)
    views = {f"{s}.{n}": text for (s, n), text in sql.items()}
    for schema in [*schemas, RECORDS_SCHEMA]:
        conn.execute(f"create schema if not exists snapshot.{schema}")
    had_views = {f"{s}.{n}": text for (s, n), text in catalog(conn, "duckdb", schemas, "snapshot")[1].items()}
    if only and previous:
        relations = [r for r in relations if r in only]
    elif previous:
        _drop_what_is_gone(conn, listed, relations, had_views)
    columns = {**_columns(conn, "current_database()", listed), **_columns(conn, "'snapshot'", listed)}
    kept = _KeptDigests(conn, previous, _mart_writes(conn, schemas[0]))
    if only:  # what it reads is not known: a view stays a view only where it already is, as defined
        as_views = {r for r in relations if r in views and had_views.get(r) == views[r]}
    else:
        as_views = _views_kept_as_views(conn, views, reads, set(relations))
    written = _bring_tables([r for r in relations if r not in as_views], conn, columns, kept, had_views,
                            whole=not previous or bool(only))  # fmt: skip
    for relation in _in_reading_order(as_views, reads):
        kept.forget(relation)
        if had_views.get(relation) != views[relation]:
            if relation not in had_views:  # a table copy there before (or nothing)
                conn.execute(f"drop table if exists snapshot.{relation}")
            conn.execute(views[relation].replace("CREATE VIEW ", "CREATE OR REPLACE VIEW snapshot.", 1))
            written[relation] = 0
    _comment(conn, listed, relations)
    kept.write()
    for record in RETIRED_RECORDS:
        conn.execute(f"drop table if exists snapshot.{record}")
    return written, kept


def _bring_tables(
    relations: list[str],
    conn: Any,
    columns: dict[tuple[str, str], list[tuple[str, str]]],
    kept: _KeptDigests,
    had_views: Collection[str],
    whole: bool,
) -> dict[str, int]:
    """The tables, and the views copied as tables, level with the warehouse: compared, or copied `whole`."""
    written: dict[str, int] = {}
    for relation in relations:
        if relation in had_views:  # a view there before, a table copy now
            conn.execute(f"drop view snapshot.{relation}")
        if whole or relation in had_views:
            rows = _copy_levelled(conn, relation, columns, kept)
        else:
            rows = _refresh(conn, relation, columns, kept)
        if rows is not None:
            written[relation] = rows
    return written


def _views_kept_as_views(
    conn: Any, views: Mapping[str, str], reads: Mapping[str, Collection[str]], relations: set[str]
) -> set[str]:
    """The views that read only what the snapshot holds: its tables, and views kept as views themselves. A
    read that does not exist (a grain's mart before its first run: macros/reporting/period_marts.sql leaves
    it out) is not read. (DuckDB keeps a view's SQL without the database it is in, even where it was
    written with it, so the same SQL in the snapshot names the snapshot's relations.)"""
    candidates = {v for v in views if v in relations and v in reads and views[v].startswith("CREATE VIEW ")}
    schemas = sorted({r.split(".", 1)[0] for v in candidates for r in reads[v]})
    existing = {f"{s}.{n}" for s, n in catalog(conn, "duckdb", schemas)[0]} if schemas else set()
    tables = relations - views.keys()
    kept: set[str] = set()
    while True:
        more = {v for v in candidates - kept
                if all(r in tables or r in kept or r not in existing for r in reads[v])}  # fmt: skip
        if not more:
            return kept
        kept |= more


def _in_reading_order(as_views: Collection[str], reads: Mapping[str, Collection[str]]) -> list[str]:
    """The views after the views they read (DuckDB binds a view's names when it is created)."""
    ordered: list[str] = []
    left = sorted(as_views)
    while left:
        ready = [v for v in left if not any(r in left and r != v for r in reads.get(v, ()))]
        ordered += ready or left  # a cycle cannot be created anyway: leave it to DuckDB to say so
        left = [v for v in left if v not in ordered]
    return ordered


def _recorded(conn: Any, record: str, database: str = "snapshot") -> bool:
    schema, table = record.split(".")
    return bool(
        conn.execute(
            f"select count(*) from duckdb_tables() where database_name = {_quoted(database)} "
            f"and schema_name = {_quoted(schema)} and table_name = {_quoted(table)}"
        ).fetchone()[0]
    )


class _Write(NamedTuple):
    """A mart's last build and what the builds since `base` (the write a snapshot was levelled at when the
    range was last emptied) may have changed: the periods starting in [start, end), or all of it (`whole`)."""

    write_id: str | None
    base: str | None
    whole: bool
    start: dt.date | None
    end: dt.date | None


def _mart_writes(conn: Any, schema: str) -> dict[str, _Write]:
    """Per mart (`schema.name`), its writes as dbt recorded them; {} before any."""
    record = f"{schema}_landing.{MART_WRITES}"
    if not _recorded(conn, record, conn.execute("select current_database()").fetchone()[0]):
        return {}
    found = conn.execute(
        f"select relation, write_id, base_write_id, changed_whole, changed_from, changed_to from {record}"
    ).fetchall()
    return {relation: _Write(*rest) for relation, *rest in found}


def _empty_levelled_ranges(conn: Any, schema: str, kept: _KeptDigests) -> None:
    """The marts levelled at their last write have nothing left to copy since it: their ranges start again
    from there. Done before the new snapshot replaces the old one: should it never do so, the old one was
    levelled at other writes than these bases, and its next publish compares those marts whole."""
    levelled = [(w.write_id, r) for r, w in kept.writes.items() if w.write_id and kept.levelled_at.get(r) == w.write_id
                and (w.base != w.write_id or w.whole or w.start is not None)]  # fmt: skip
    if levelled:
        conn.executemany(
            f"update {schema}_landing.{MART_WRITES} set base_write_id = write_id, changed_whole = false, "
            "changed_from = null, changed_to = null where write_id = ? and relation = ?",
            levelled,
        )


class _KeptDigests:
    """The digests of the snapshot's copies (per relation: per period, or under None) and the mart write each
    copy was levelled at, as kept in the snapshot by the last publish and brought level here as copies change.
    `writes` are the warehouse's current write ids."""

    def __init__(self, conn: Any, previous: bool, writes: Mapping[str, _Write]) -> None:
        self.conn = conn
        self.writes = writes
        self.known: dict[str, dict[Any, tuple[int, int]]] = {}
        self.levelled_at: dict[str, str] = {}
        if previous and _recorded(conn, DIGESTS_RECORD):
            for relation, key, n, h in conn.execute(
                f"select relation, period, n, h from snapshot.{DIGESTS_RECORD}"
            ).fetchall():
                digests = self.known.setdefault(relation, {})
                if n:  # a row with none: an empty copy
                    digests[key] = (n, int(h))
        if previous and _recorded(conn, WRITES_RECORD):
            self.levelled_at = dict(conn.execute(f"select relation, write_id from snapshot.{WRITES_RECORD}").fetchall())

    def of(self, relation: str) -> dict[Any, tuple[int, int]] | None:
        return self.known.get(relation)

    def unwritten(self, relation: str) -> bool:
        """dbt has not written the mart since its copy was levelled: the copy holds its rows."""
        write = self.writes.get(relation)
        return write is not None and write.write_id is not None and self.levelled_at.get(relation) == write.write_id

    def changed_range(self, relation: str) -> tuple[dt.date, dt.date] | None:
        """The period start dates [start, end) outside which the mart is as its copy, when known: its writes
        since the write the copy was levelled at changed only these periods."""
        write = self.writes.get(relation)
        if write is None or write.whole or write.start is None or write.end is None or relation not in self.known:
            return None
        from_levelled = write.base is not None and self.levelled_at.get(relation) == write.base
        return (write.start, write.end) if from_levelled else None

    def level(self, relation: str, source: dict[Any, tuple[int, int]]) -> None:
        """The copy now holds the relation's rows, whose digests are `source`."""
        self.known[relation] = dict(source)
        write = self.writes.get(relation)
        if write is not None and write.write_id is not None:
            self.levelled_at[relation] = write.write_id
        else:
            self.levelled_at.pop(relation, None)

    def forget(self, relation: str) -> None:
        self.known.pop(relation, None)
        self.levelled_at.pop(relation, None)

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
        self.conn.execute(f"create or replace table snapshot.{WRITES_RECORD} (relation varchar, write_id varchar)")
        if self.levelled_at:
            levelled = sorted(self.levelled_at.items())
            self.conn.executemany(f"insert into snapshot.{WRITES_RECORD} values (?, ?)", levelled)


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


def _drop_what_is_gone(conn: Any, listed: str, relations: list[str], had_views: Collection[str]) -> None:
    """What the previous snapshot holds and the warehouse no longer does (a model removed, the schema
    renamed): the snapshot holds what a new copy of the warehouse would."""
    for (schema,) in conn.execute(
        "select schema_name from duckdb_schemas() where database_name = 'snapshot' and not internal "
        f"and schema_name not in ({listed}, 'main', {_quoted(RECORDS_SCHEMA)})"
    ).fetchall():
        conn.execute(f"drop schema snapshot.{_ident(schema)} cascade")
    for view in had_views:
        if view not in relations:
            conn.execute(f"drop view snapshot.{view}")
    for schema, name in conn.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'snapshot' "
        f"and schema_name <> {_quoted(RECORDS_SCHEMA)}"
    ).fetchall():
        if f"{schema}.{name}" not in relations:
            conn.execute(f"drop table snapshot.{_ident(schema)}.{_ident(name)}")


def _copy_levelled(
    conn: Any, relation: str, columns: dict[tuple[str, str], list[tuple[str, str]]], kept: _KeptDigests
) -> int:
    """Copy the relation whole and keep the copy's digests: read now, while the rows are at hand, rather than
    by the publish after the next write, which would otherwise read the copy as well as the mart (one more day
    after a backfill read every daily mart's copy)."""
    rows = _copy(conn, relation)
    kept.level(relation, _digests(conn, relation, _period_key(columns, relation)))
    return rows


def _copy(conn: Any, relation: str) -> int:
    # A view copied becomes a table: its reads are not all in the snapshot.
    conn.execute(f"create or replace table snapshot.{relation} as select * from {relation}")
    return conn.execute(f"select count(*) from snapshot.{relation}").fetchone()[0]


def _digests(conn: Any, relation: str, key: str | None) -> dict[Any, tuple[int, int]]:
    """Per key value (or for the whole relation, under None): its row count and the sum of its row hashes."""
    group = f"{key}, " if key else "null, "
    by = f" group by {key}" if key else ""
    # The alias stands for the whole row (a struct of its columns); no relation has a column of that name.
    rows = conn.execute(f"select {group}count(*), sum(hash(_row)::hugeint) from {relation} as _row{by}").fetchall()
    return {k: (n, h) for k, n, h in rows if n}


def _values(keys: Collection[Any]) -> str:
    return ", ".join(_quoted(str(k)) for k in sorted(keys, key=str))


def _period_key(columns: dict[tuple[str, str], list[tuple[str, str]]], relation: str) -> str | None:
    """What the relation's digests are per: its periods, else its runs' start days, else nothing (whole)."""
    names = {name: data_type for name, data_type in columns.get(("warehouse", relation)) or []}
    if PERIOD_KEY in names:
        return PERIOD_KEY
    if names.get("start_at", "").startswith("TIMESTAMP"):
        return START_DAY_KEY
    return None


def _refresh(
    conn: Any, relation: str, columns: dict[tuple[str, str], list[tuple[str, str]]], kept: _KeptDigests
) -> int | None:
    """Bring the snapshot's copy of one relation level with it: the rows written, None when it already was."""
    if columns.get(("snapshot", relation)) != columns.get(("warehouse", relation)):  # not copied yet, or
        return _copy_levelled(conn, relation, columns, kept)  # other columns or types
    if kept.unwritten(relation):
        return None
    key = _period_key(columns, relation)
    in_range = kept.changed_range(relation) if key == PERIOD_KEY else None
    if in_range is not None and any(c == "period_start_date" for c, _ in columns[("warehouse", relation)]):
        return _refresh_range(conn, relation, kept, in_range)
    copy = kept.of(relation)
    if copy is None:
        copy = _digests(conn, f"snapshot.{relation}", key)
    if not copy:  # an empty copy (a view before its marts existed): no need to read it twice
        return _copy_levelled(conn, relation, columns, kept) or None
    source = _digests(conn, relation, key)
    kept.level(relation, source)
    if source == copy:
        return None
    changed = _differing(source, copy)
    if key is None or None in changed or len(changed) > WHOLE_ABOVE * max(len(source), 1):
        return _copy(conn, relation)
    return _copy_keys(conn, relation, key, changed)


def _refresh_range(conn: Any, relation: str, kept: _KeptDigests, in_range: tuple[dt.date, dt.date]) -> int | None:
    """Bring the copy level over the periods starting in `in_range`, outside which it already is: those
    periods' digests, the mart's read and the copy's as kept (`_kept_over`), compared; the rows of those that
    differ copied again."""
    within = f"period_start_date >= cast('{in_range[0]}' as date) and period_start_date < cast('{in_range[1]}' as date)"
    source = _digests(conn, f"(select * from {relation} where {within})", PERIOD_KEY)
    copy = _kept_over(conn, relation, kept, within)
    kept.level(relation, {**{k: v for k, v in (kept.of(relation) or {}).items() if k not in copy}, **source})
    changed = _differing(source, copy)
    return _copy_keys(conn, relation, PERIOD_KEY, changed) if changed else None


def _kept_over(conn: Any, relation: str, kept: _KeptDigests, within: str) -> dict[Any, tuple[int, int]]:
    """The copy's digests of its periods in the range: as kept, which publishes write with the copy in one
    transaction; read from the copy when one of them has none kept. Finding the periods reads one column of the
    copy; hashing its rows cost more than the mart's (at 10M node runs, one more day's work_order_status_daily:
    0.4-2.1 s against 0.09 s), because publishes delete a period's rows and append them again, so the copy's
    rows of a period no longer lie together as the mart's do."""
    found = conn.execute(f"select distinct {PERIOD_KEY} from snapshot.{relation} where {within}").fetchall()
    held = [k for (k,) in found]
    known = kept.of(relation) or {}
    if all(k in known for k in held):
        return {k: known[k] for k in held}
    return _digests(conn, f"(select * from snapshot.{relation} where {within})", PERIOD_KEY)


def _differing(source: dict[Any, tuple[int, int]], copy: dict[Any, tuple[int, int]]) -> set[Any]:
    """The periods (or start days) whose digests differ, or that only one side has."""
    return {k for k in source.keys() | copy.keys() if source.get(k) != copy.get(k)}


def _copy_keys(conn: Any, relation: str, key: str, values: Collection[Any]) -> int:
    """The copy's rows of these periods (or start days) replaced by the relation's: the rows written."""
    listed = _values(values)
    conn.execute(f"delete from snapshot.{relation} where {key} in ({listed})")
    inserted = conn.execute(f"insert into snapshot.{relation} select * from {relation} where {key} in ({listed})")
    return inserted.fetchone()[0]


def _comment(conn: Any, listed: str, relations: list[str]) -> None:
    """The descriptions dbt persisted (tables, views and columns), where the snapshot's differ: a relation
    copied whole or a view defined anew has none, one refreshed keeps its own."""

    def comments(database: str) -> dict[tuple[str, str], tuple[str, str | None]]:
        found = conn.execute(
            "select schema_name || '.' || table_name, '', 'table', comment from duckdb_tables() "
            f"where database_name = {database} and schema_name in ({listed}) "
            "union all select schema_name || '.' || view_name, '', 'view', comment from duckdb_views() "
            f"where database_name = {database} and schema_name in ({listed}) and not internal "
            "union all select schema_name || '.' || table_name, column_name, '', comment from duckdb_columns() "
            f"where database_name = {database} and schema_name in ({listed})"
        ).fetchall()
        return {(relation, column): (kind, comment) for relation, column, kind, comment in found
                if relation in relations}  # fmt: skip

    have = comments("'snapshot'")
    for (relation, column), (_, comment) in comments("current_database()").items():
        there = have.get((relation, column))
        if there is None or there[1] == comment:
            continue
        text = "null" if comment is None else _quoted(comment)
        if column:
            conn.execute(f"comment on column snapshot.{relation}.{_ident(column)} is {text}")
        else:
            conn.execute(f"comment on {there[0]} snapshot.{relation} is {text}")
