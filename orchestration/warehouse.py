"""The warehouse: DuckDB (embedded default) or PostgreSQL (production), behind one Dagster resource.

Python only lands data here (bulk: DuckDB reads the DataFrame directly, PostgreSQL gets COPY); all set
work happens in dbt. Connections are opened per operation and closed at once, because DuckDB allows a
single read-write process per file and dbt needs the file next.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from dagster import ConfigurableResource, EnvVar

from orchestration.settings import Settings

# DuckDB: one writing process per file, and within it one connection at a time (threads of one process
# share the database instance; concurrent pandas scans on it are not safe).
_duckdb_lock = threading.RLock()


class Warehouse(ConfigurableResource):
    """Where landing tables live. `schema` is the dbt target schema; landing tables go to `<schema>_landing`."""

    target: Literal["duckdb", "postgres"] = "duckdb"
    duckdb_path: str = ""
    schema_name: str = "commitments"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_password: str = ""
    pg_database: str = "test"

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> Warehouse:
        """The warehouse the environment names, as the dbt profile reads it (dbt_project/profiles.yml):
        WAREHOUSE_TARGET, WAREHOUSE_SCHEMA, WAREHOUSE_DUCKDB_PATH (default <data dir>/warehouse.duckdb) and
        the libpq variables; the password stays an `EnvVar`, resolved only when Dagster builds the resource."""
        env = os.environ if environ is None else environ
        return cls(
            target=env.get("WAREHOUSE_TARGET", "duckdb"),  # type: ignore[arg-type]
            duckdb_path=env.get("WAREHOUSE_DUCKDB_PATH") or str(settings.data_dir / "warehouse.duckdb"),
            schema_name=env.get("WAREHOUSE_SCHEMA", "commitments"),
            pg_host=env.get("PGHOST", "127.0.0.1"),
            pg_port=int(env.get("PGPORT", "5432")),
            pg_user=env.get("PGUSER", "postgres"),
            pg_password=EnvVar("PGPASSWORD") if env.get("PGPASSWORD") else "",
            pg_database=env.get("PGDATABASE", "test"),
        )

    def dbt_environment(self) -> dict[str, str]:
        """What the dbt profile reads, for a dbt process or invocation pointed at this warehouse."""
        return {"WAREHOUSE_TARGET": self.target, "WAREHOUSE_SCHEMA": self.schema_name,
                "WAREHOUSE_DUCKDB_PATH": self.duckdb_path}  # fmt: skip

    @property
    def landing_schema(self) -> str:
        return f"{self.schema_name}_landing"

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A DB-API connection, committed on success and always closed."""
        with _duckdb_lock if self.target == "duckdb" else nullcontext():
            conn = self._open()
            try:
                yield conn
                conn.commit()
            except BaseException:
                with suppress(Exception):  # DuckDB has no transaction open outside explicit ones
                    conn.rollback()
                raise
            finally:
                conn.close()

    def _open(self) -> Any:
        if self.target == "duckdb":
            import duckdb

            Path(self.duckdb_path).parent.mkdir(parents=True, exist_ok=True)
            return duckdb.connect(self.duckdb_path)
        import psycopg2

        return psycopg2.connect(
            host=self.pg_host, port=self.pg_port, user=self.pg_user,
            password=self.pg_password or None, dbname=self.pg_database,
        )  # fmt: skip

    def query(self, sql: str) -> pd.DataFrame:
        with self.connect() as conn:
            if self.target == "duckdb":
                return conn.execute(sql).df()
            cur = conn.cursor()
            cur.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])

    def table_exists(self, schema: str, table: str) -> bool:
        found = self.query(
            "select count(*) as n from information_schema.tables "
            f"where table_schema = '{schema}' and table_name = '{table}'"
        )
        return int(found.n.iloc[0]) > 0

    def ensure_tables(self, schema: str, tables: Sequence[Any]) -> None:
        """Create each table (name, ddl, indexes: orchestration/landing/tables.py) that does not exist yet."""
        with self.connect() as conn:
            cur = conn.cursor()
            cur.execute(f"create schema if not exists {schema}")
            for table in tables:
                cur.execute(f"create table if not exists {schema}.{table.name} ({table.ddl})")
                if self.target == "postgres":
                    for i, cols in enumerate(table.indexes):
                        cur.execute(f"create index if not exists {table.name}_ix{i} on {schema}.{table.name} ({cols})")

    def replace_where(self, table: str, where: str, frame: pd.DataFrame) -> None:
        """Atomically replace the rows of a landing-schema table that match `where` (a source's partitions:
        `Window.partition_filter`) with `frame`: a rerun never duplicates."""
        qualified = f"{self.landing_schema}.{table}"
        with self.connect() as conn:
            conn.cursor().execute(f"delete from {qualified} where {where}")
            self._insert(conn, qualified, frame, skip_existing=False)

    def replace_table(self, table: str, frame: pd.DataFrame) -> None:
        """Replace a small reference table whole (catalogue, commitments, periods)."""
        with self.connect() as conn:
            cur = conn.cursor()
            cur.execute(f"create schema if not exists {self.landing_schema}")
            cur.execute(f"drop table if exists {self.landing_schema}.{table}")
            if self.target == "duckdb":
                conn.register("frame", frame)
                cur.execute(f"create table {self.landing_schema}.{table} as select * from frame")
                conn.unregister("frame")
            else:
                cur.execute(f"create table {self.landing_schema}.{table} ({_pg_columns(frame)})")
                _pg_copy(cur, f"{self.landing_schema}.{table}", frame)

    def append(self, table: str, frame: pd.DataFrame, skip_existing: bool = False) -> int:
        """Insert rows into a landing-schema table; with skip_existing, rows whose primary key is
        already there are skipped (`on conflict do nothing`). Returns the number of rows inserted."""
        with self.connect() as conn:
            return self._insert(conn, f"{self.landing_schema}.{table}", frame, skip_existing)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run one statement in its own transaction (`%s` placeholders); returns its rows, if any
        (e.g. of `update ... returning`)."""
        with self.connect() as conn:
            cur = conn.cursor()
            if self.target == "duckdb":
                cur.execute(sql.replace("%s", "?"), list(params))
            else:
                cur.execute(sql, tuple(params))
            return cur.fetchall() if cur.description else []

    def _insert(self, conn: Any, qualified: str, frame: pd.DataFrame, skip_existing: bool) -> int:
        if frame.empty:
            return 0
        columns = ", ".join(frame.columns)
        conflict = " on conflict do nothing" if skip_existing else ""
        cur = conn.cursor()
        if self.target == "duckdb":
            conn.register("frame", frame)
            try:
                inserted = cur.execute(f"insert into {qualified} ({columns}) select {columns} from frame{conflict}")
                return int(inserted.fetchone()[0])
            finally:
                conn.unregister("frame")
        if not skip_existing:
            _pg_copy(cur, qualified, frame)
            return len(frame)
        # COPY cannot skip conflicts: stage the rows, then insert what is new.
        cur.execute(f"create temporary table staged_rows (like {qualified}) on commit drop")
        _pg_copy(cur, "staged_rows", frame)
        cur.execute(f"insert into {qualified} ({columns}) select {columns} from staged_rows{conflict}")
        return max(cur.rowcount, 0)


def _pg_columns(frame: pd.DataFrame) -> str:
    def sql_type(dtype: Any) -> str:
        if pd.api.types.is_bool_dtype(dtype):
            return "boolean"
        if pd.api.types.is_integer_dtype(dtype):
            return "bigint"
        if pd.api.types.is_float_dtype(dtype):
            return "double precision"
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return "timestamp"
        return "varchar"

    return ", ".join(f"{name} {sql_type(dtype)}" for name, dtype in frame.dtypes.items())


def _pg_copy(cur: Any, qualified: str, frame: pd.DataFrame) -> None:
    """COPY in PostgreSQL's text format, escaped column by column (vectorised): a backslash in a value is
    sent as `\\\\`, so a literal `\\N` in a text field arrives as those two characters and only a missing
    value is NULL. (The CSV format with `null '\\N'` read an unquoted `\\N` value as NULL.)"""
    if frame.empty:
        return
    fields = [_copy_text(frame[name]) for name in frame.columns]
    lines = fields[0].str.cat(fields[1:], sep="\t") if len(fields) > 1 else fields[0]
    buffer = io.StringIO("\n".join(lines.tolist()) + "\n")
    cur.copy_expert(f"copy {qualified} ({', '.join(frame.columns)}) from stdin", buffer)


def _copy_text(column: pd.Series) -> pd.Series:
    """One column as COPY text-format fields: `\\N` for a missing value, backslash escapes otherwise."""
    if pd.api.types.is_datetime64_any_dtype(column):
        text = column.dt.strftime("%Y-%m-%d %H:%M:%S.%f").astype("string")
    elif pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        text = column.astype("string")
    else:
        text = column.astype("string")
        for raw, escaped in _COPY_ESCAPES:
            text = text.str.replace(raw, escaped, regex=False)
    return text.where(column.notna().to_numpy(), _COPY_NULL).reset_index(drop=True)


_COPY_NULL = "\\N"
# The backslash first, so the escapes added after it are not escaped again.
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
