"""The read-only DuckDB snapshot that BI tools and the dashboard open instead of the warehouse.

DuckDB lets one process write a file, and a reader holding it (even read-only) makes the pipeline's next
write fail to lock it. So after every job the marts (`<schema>`) and the reporting views
(`<schema>_reporting`, copied as tables, with their descriptions) are copied into a new file beside the
warehouse, `<warehouse>_readonly.duckdb`, which then replaces the previous snapshot by a rename. A reader
with the old snapshot open keeps reading it undisturbed; the next connection opens the new one. Landing,
staging and the quarantine (raw source rows) are not copied.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from orchestration.warehouse import Warehouse

SNAPSHOT_SUFFIX = "_readonly"


def snapshot_path(warehouse: Warehouse) -> Path:
    """`<dir>/<name>_readonly.duckdb` beside the warehouse file (data/warehouse_readonly.duckdb by default)."""
    path = Path(warehouse.duckdb_path)
    return path.with_name(f"{path.stem}{SNAPSHOT_SUFFIX}{path.suffix or '.duckdb'}")


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def publish_snapshot(warehouse: Warehouse, only: Sequence[str] = ()) -> dict[str, int] | None:
    """Copy the marts and the reporting views into a new snapshot and swap it in atomically; returns the
    rows copied per relation (`schema.name`). With `only` (e.g. the live evaluation's two relations) and a
    snapshot in place, the new one is a copy of it with just those replaced: every 15 minutes, a file copy
    instead of the whole history. None on PostgreSQL, whose readers use the BI role instead."""
    if warehouse.target != "duckdb":
        return None
    final = snapshot_path(warehouse)
    partial = final.with_name(f".{final.name}.{os.getpid()}.partial")
    for leftover in (partial, partial.with_name(partial.name + ".wal")):
        leftover.unlink(missing_ok=True)
    schemas = ", ".join(_quoted(s) for s in (warehouse.schema_name, warehouse.reporting_schema))
    refresh = bool(only) and final.exists()
    if refresh:
        shutil.copyfile(final, partial)
    copied: dict[str, int] = {}
    try:
        with warehouse.connect() as conn:
            relations = conn.execute(
                "select schema_name, table_name, comment from duckdb_tables() "
                f"where database_name = current_database() and schema_name in ({schemas}) "
                "union all select schema_name, view_name, comment from duckdb_views() "
                f"where database_name = current_database() and schema_name in ({schemas}) and not internal "
                "order by 1, 2"
            ).fetchall()
            columns = conn.execute(
                "select schema_name, table_name, column_name, comment from duckdb_columns() "
                f"where database_name = current_database() and schema_name in ({schemas}) and comment is not null"
            ).fetchall()
            if refresh:
                relations = [r for r in relations if f"{r[0]}.{r[1]}" in only]
                columns = [c for c in columns if f"{c[0]}.{c[1]}" in only]
            conn.execute(f"attach {_quoted(str(partial))} as snapshot")
            for schema in {schema for schema, _, _ in relations}:
                conn.execute(f"create schema if not exists snapshot.{schema}")
            for schema, name, comment in relations:
                # A view becomes a table: the snapshot stands alone, and readers get the rows without the joins.
                conn.execute(f"create or replace table snapshot.{schema}.{name} as select * from {schema}.{name}")
                copied[f"{schema}.{name}"] = conn.execute(f"select count(*) from snapshot.{schema}.{name}").fetchone()[
                    0
                ]
                if comment:
                    conn.execute(f"comment on table snapshot.{schema}.{name} is {_quoted(comment)}")
            for schema, name, column, comment in columns:
                conn.execute(f'comment on column snapshot.{schema}.{name}."{column}" is {_quoted(comment)}')
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return copied
