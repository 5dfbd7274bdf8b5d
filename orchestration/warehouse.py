"""The warehouse: DuckDB (embedded default) or PostgreSQL (production), behind one Dagster resource.

Python only lands data here (bulk: DuckDB reads the DataFrame directly, PostgreSQL gets COPY); all set
work happens in dbt. Connections are opened per operation and closed at once. Each operation is one
transaction on both warehouses, so a process killed mid-way leaves the previous rows, never part of the new
ones. DuckDB allows a single read-write process per file: a step of the `warehouse` pool keeps its file open
in its process while it runs (`keeps_duckdb_open`), and lets it go when it ends, for the next step, which
may be another run's in another process.

Another process holding the DuckDB file (a second run, an operator's `quality list`, dbt) is waited for,
up to WAREHOUSE_LOCK_WAIT_SECONDS (default 600); dbt-duckdb waits as long (dbt_project/profiles.yml).
"""

from __future__ import annotations

import functools
import inspect
import io
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from dagster import ConfigurableResource, EnvVar
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_exponential

from orchestration.errors import ConfigError
from orchestration.settings import Settings

TARGETS = ("duckdb", "postgres")
# A schema name goes into SQL unquoted: lower case (PostgreSQL folds unquoted names), and short enough
# that `<schema>_landing` fits PostgreSQL's 63 characters.
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,54}$")
# A PostgreSQL warehouse is named in full: no development default, so nothing is ever written into
# whatever database happens to answer on localhost. PGPORT (5432) and PGPASSWORD (none) are optional.
PG_REQUIRED = ("PGHOST", "PGUSER", "PGDATABASE")
# DuckDB: one writing process per file, and within it one connection at a time (threads of one process
# share the database instance; concurrent pandas scans on it are not safe).
_duckdb_lock = threading.RLock()
# The DuckDB files this process keeps open, each with the connection that does and how many steps want it.
_kept: dict[str, tuple[Any, int]] = {}
LOCK_WAIT_VARIABLE = "WAREHOUSE_LOCK_WAIT_SECONDS"
# How much memory DuckDB may take in a run's process, the rest of a query spilled to disk (<file>.tmp), as a
# size or a share of RAM. The default is DuckDB's own, 80%: at 10M node runs a 2GB limit made the daily job's dbt
# stage twice as slow and work_order_status_weekly fail (an operator that cannot spill; BENCHMARKS.md). Lower it
# where the machine runs more than the pipeline. dbt_project/profiles.yml has the same default.
MEMORY_LIMIT_VARIABLE, DEFAULT_MEMORY_LIMIT = "WAREHOUSE_DUCKDB_MEMORY_LIMIT", "80%"
# PostgreSQL: the pipeline's sessions (its own and dbt's) run without JIT compilation. PostgreSQL compiles a plan
# whose estimated cost passes jit_above_cost, which every mart's query over a window does, and each runs once:
# at 1M node runs the compilation took 4.4 s of a 19.2 s work_order_status query, and without it the daily job's
# node_run_states_daily took 16-18 s instead of 20-24 s (BENCHMARKS.md). They also sort and hash in 128 MB of
# memory per operation instead of the server's default 4 MB: the marts' window functions and joins over a backfill's
# range sorted on disk (the 1M demo's history on PostgreSQL: 493.6 -> 431.5 s, its dbt stage 276.5 -> 232.1 s; one
# more day 33.3 -> 25.2 s). A server shared with other work may want less: the environment's PGOPTIONS come after,
# and win.
PG_SESSION_OPTIONS = "-c jit=off -c work_mem=128MB"
ANALYZE_MIN_ROWS = 1000  # smaller loads leave PostgreSQL's statistics to autovacuum
Frames = Mapping[str, pd.DataFrame]  # rows per landing table


class WarehouseBusy(RuntimeError):
    """Another process kept the DuckDB file for longer than the lock wait."""


def _is_file_lock(error: BaseException) -> bool:
    return type(error).__name__ == "IOException" and "Could not set lock" in str(error)


class _DuckDBTransaction:
    """A DuckDB connection whose cursor() is itself: DuckDB's cursor() opens another connection, with its own
    transaction in autocommit, so statements run through it would escape the operation's transaction."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def cursor(self) -> Any:
        return self._conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class WarehouseUnreachable(ConnectionError):
    """The warehouse cannot be connected to. The message is one line naming the target, host and port (or the
    DuckDB file) and the variables to set; never the password."""


class Warehouse(ConfigurableResource):
    """Where landing tables live. `schema` is the dbt target schema (the marts); landing tables go to
    `<schema>_landing`, dbt's staging views to `<schema>_staging`, the reporting views to `<schema>_reporting`."""

    target: Literal["duckdb", "postgres"] = "duckdb"
    duckdb_path: str = ""
    schema_name: str = "commitments"
    pg_host: str = ""
    pg_port: int = 5432
    pg_user: str = ""
    pg_password: str = ""
    pg_database: str = ""
    lock_wait_seconds: float = 600.0
    duckdb_memory_limit: str = DEFAULT_MEMORY_LIMIT

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> Warehouse:
        """The warehouse the environment names, as the dbt profile reads it (dbt_project/profiles.yml):
        WAREHOUSE_TARGET (duckdb or postgres), WAREHOUSE_SCHEMA, WAREHOUSE_DUCKDB_PATH (default
        <data dir>/warehouse.duckdb) and, for PostgreSQL, the libpq variables PG_REQUIRED (plus PGPORT and
        PGPASSWORD); the password stays an `EnvVar`, resolved only when Dagster builds the resource.
        Raises ConfigError naming the variable to set."""
        env = os.environ if environ is None else environ
        target = env.get("WAREHOUSE_TARGET") or "duckdb"
        if target not in TARGETS:
            raise ConfigError(
                f"WAREHOUSE_TARGET={target!r} is not a warehouse: set WAREHOUSE_TARGET to duckdb or postgres "
                "(unset means duckdb)"
            )
        duckdb_path = env.get("WAREHOUSE_DUCKDB_PATH") or str(settings.data_dir / "warehouse.duckdb")
        if Path(duckdb_path).is_dir():
            raise ConfigError(
                f"WAREHOUSE_DUCKDB_PATH={duckdb_path!r} is a directory: set it to the database file, e.g. "
                f"{Path(duckdb_path) / 'warehouse.duckdb'}"
            )
        return cls(
            target=target,  # type: ignore[arg-type]
            duckdb_path=duckdb_path,
            schema_name=_schema_name(env.get("WAREHOUSE_SCHEMA") or "commitments"),
            **(_postgres_connection(env) if target == "postgres" else {}),
            lock_wait_seconds=_lock_wait_seconds(env),
            duckdb_memory_limit=_memory_limit(env),
        )

    def dbt_environment(self) -> dict[str, str]:
        """What the dbt profile reads, for a dbt process or invocation pointed at this warehouse."""
        env = {"WAREHOUSE_TARGET": self.target, "WAREHOUSE_SCHEMA": self.schema_name,
               "WAREHOUSE_DUCKDB_PATH": self.duckdb_path,
               MEMORY_LIMIT_VARIABLE: self.duckdb_memory_limit}  # fmt: skip
        if self.target == "postgres":
            env["PGOPTIONS"] = pg_session_options()
        return env

    def describe(self) -> str:
        """Where this warehouse is, for messages: target, host and port or file; no password."""
        if self.target == "duckdb":
            return f"duckdb file {self.duckdb_path}"
        return f"postgres at {self.pg_host}:{self.pg_port} (database {self.pg_database}, user {self.pg_user})"

    def check_reachable(self) -> None:
        """Connect once (`select 1`), before a command starts work; raises WarehouseUnreachable."""
        try:
            self.query("select 1 as reachable")
        except WarehouseUnreachable:
            raise
        except Exception as err:  # DuckDB: a file that cannot be created, opened or locked
            raise WarehouseUnreachable(f"cannot open the warehouse, {self.describe()}: {_first_line(err)}") from err

    @property
    def landing_schema(self) -> str:
        return f"{self.schema_name}_landing"

    @property
    def staging_schema(self) -> str:
        """dbt's staging views (dbt_project/macros/project/generate_schema_name.sql): they read landing with
        their owner's rights, so they live apart from the marts that readers are granted."""
        return f"{self.schema_name}_staging"

    @property
    def reporting_schema(self) -> str:
        """dbt's reporting views (dbt_project/models/reporting): what BI tools and the dashboard read, with
        the marts; the BI role (orchestration/reporting/access.py) is granted these two schemas only."""
        return f"{self.schema_name}_reporting"

    @property
    def checks_schema(self) -> str:
        """PostgreSQL: the views of the windows Great Expectations validates, each for one validation
        (orchestration/quality/gx.py); empty between checks."""
        return f"{self.schema_name}_checks"

    @property
    def schemas(self) -> tuple[str, ...]:
        """Every schema the pipeline writes for this warehouse schema: what to drop to remove it whole."""
        return (self.schema_name, self.staging_schema, self.landing_schema, self.reporting_schema, self.checks_schema)

    @contextmanager
    def _opened(self) -> Iterator[Any]:
        """A DB-API connection, always closed; on DuckDB, the only one of this process at a time."""
        with _duckdb_lock if self.target == "duckdb" else nullcontext():
            conn = self._open()
            try:
                yield conn
            finally:
                conn.close()

    @contextmanager
    def kept_open(self) -> Iterator[None]:
        """DuckDB: the file stays open in this process for the block. Each connection opened meanwhile joins the
        open database instead of loading its catalogue again, and the writes are checkpointed once, at the end:
        a tiny daily job opened the file 33 times at about 20 ms each (BENCHMARKS.md). PostgreSQL: nothing."""
        if self.target != "duckdb":
            yield
            return
        path = self.duckdb_path
        with _duckdb_lock:
            conn, keepers = _kept.get(path) or (self._open_duckdb(), 0)
            _kept[path] = (conn, keepers + 1)
        try:
            yield
        finally:
            with _duckdb_lock:
                conn, keepers = _kept.pop(path)
                if keepers > 1:
                    _kept[path] = (conn, keepers - 1)
                else:
                    conn.close()

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A DB-API connection in one transaction, committed on success, rolled back on failure, always closed."""
        with self._opened() as conn:
            try:
                if self.target == "duckdb":
                    conn.begin()  # DuckDB autocommits each statement otherwise; psycopg2 opens one itself
                yield _DuckDBTransaction(conn) if self.target == "duckdb" else conn
                conn.commit()
            except BaseException:
                with suppress(Exception):
                    conn.rollback()
                raise

    def _open(self) -> Any:
        _schema_name(self.schema_name)
        if self.target == "duckdb":
            return self._open_duckdb()
        import psycopg2

        if not (self.pg_host and self.pg_user and self.pg_database):
            raise ConfigError(f"a PostgreSQL warehouse needs its connection: set {', '.join(PG_REQUIRED)}")
        try:
            return psycopg2.connect(
                host=self.pg_host, port=self.pg_port, user=self.pg_user,
                password=self.pg_password or None, dbname=self.pg_database, options=pg_session_options(),
            )  # fmt: skip
        except psycopg2.OperationalError as err:
            raise WarehouseUnreachable(
                f"cannot connect to the warehouse, {self.describe()}: {_first_line(err)} "
                "(set WAREHOUSE_TARGET and PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE)"
            ) from err

    def _open_duckdb(self) -> Any:
        """Open the file, waiting with backoff while another process holds it (DuckDB: one writer per file)."""
        import duckdb

        Path(self.duckdb_path).parent.mkdir(parents=True, exist_ok=True)
        waiting = Retrying(
            retry=retry_if_exception(_is_file_lock),
            wait=wait_exponential(multiplier=0.1, max=5),
            stop=stop_after_delay(self.lock_wait_seconds),
        )
        try:
            conn = waiting(duckdb.connect, self.duckdb_path)
            # Set, not given as the connection's configuration: DuckDB refuses a connection whose configuration
            # differs from that of one already open on the file in this process (dbt's sets it the same way).
            conn.execute(f"set memory_limit = '{self.duckdb_memory_limit}'")
            # Nothing the pipeline reads depends on the order rows were inserted in (delivery order is a column,
            # event_seq; every order is an ORDER BY), and keeping it made DuckDB write a copy's row groups in
            # sequence: the snapshot's copy of node_run_states_daily at 1M node runs took 3.3-3.5 s with it,
            # 1.9-2.0 s without; an insert of a 1M-row frame 0.53 -> 0.27 s. This connection only: dbt's, on the
            # same database in this process, keeps DuckDB's default.
            conn.execute("set session preserve_insertion_order = false")
            return conn
        except RetryError as expired:
            error = expired.last_attempt.exception()
            holder = re.search(r"held in (.*)", str(error))
            raise WarehouseBusy(
                f"DuckDB file {self.duckdb_path} is still in use by another process after "
                f"{self.lock_wait_seconds:g} s ({holder.group(1) if holder else error}). Wait for that process to "
                f"finish or stop it; set {LOCK_WAIT_VARIABLE} to wait longer."
            ) from error

    def query(self, sql: str) -> pd.DataFrame:
        with self.connect() as conn:
            if self.target == "duckdb":
                return conn.execute(sql).df()
            cur = conn.cursor()
            cur.execute(sql)
            return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])

    def table_exists(self, schema: str, table: str) -> bool:
        # Bound, not pasted: the names may come from configuration.
        found = self.execute(
            "select count(*) from information_schema.tables where table_schema = %s and table_name = %s",
            [schema, table],
        )
        return int(found[0][0]) > 0

    def ensure_tables(self, schema: str, tables: Sequence[Any]) -> None:
        """Create each table (name, ddl, indexes: orchestration/landing/tables.py) that does not exist yet, and
        add the declared columns an existing one lacks."""
        with self.connect() as conn:
            cur = conn.cursor()
            cur.execute(f"create schema if not exists {schema}")
            for table in tables:
                cur.execute(f"create table if not exists {schema}.{table.name} ({table.ddl})")
            # A table created before a column was declared gets it (null in its old rows).
            marker = "?" if self.target == "duckdb" else "%s"
            cur.execute(f"select table_name, column_name from information_schema.columns where table_schema = {marker}",
                        [schema])  # fmt: skip
            present = set(cur.fetchall())
            for table in tables:
                for name, sql_type in table.columns:
                    if (table.name, name) not in present:
                        cur.execute(f"alter table {schema}.{table.name} add column {name} {sql_type}")
                if self.target == "postgres":
                    for i, cols in enumerate(table.indexes):
                        cur.execute(f"create index if not exists {table.name}_ix{i} on {schema}.{table.name} ({cols})")

    def replace_where(self, table: str, where: str, frame: pd.DataFrame) -> None:
        """Atomically replace the rows of a landing-schema table that match `where` (a source's partitions:
        `Window.partition_filter`) with `frame`: a rerun never duplicates."""
        self.replace_partitions(where, {table: frame})

    def replace_partitions(self, where: str, frames: Mapping[str, pd.DataFrame]) -> None:
        """Replace the rows matching `where` in several landing-schema tables in one transaction: a process
        killed mid-way leaves every table's previous rows, never some tables replaced and others not."""
        with self.connect() as conn:
            for table, frame in frames.items():
                qualified = f"{self.landing_schema}.{table}"
                conn.cursor().execute(f"delete from {qualified} where {where}")
                self._insert(conn, qualified, frame, skip_existing=False)

    @contextmanager
    def replacing_partitions(self, where: str, tables: Sequence[str]) -> Iterator[Callable[[Frames], None]]:
        """Replace the rows matching `where` in several landing-schema tables with rows given batch by batch
        (`add({table: frame})`, as often as needed): readers see the previous rows until the block ends without
        an error, then all the new ones; an error or a killed process leaves the previous rows whole.

        PostgreSQL: one transaction around every batch. DuckDB: the batches go to tables of their own in
        `<schema>_loading` (committed per batch, so the file is not held while the source is read), then one
        transaction swaps them in; a single batch goes straight in, as `replace_partitions`."""
        if self.target == "postgres":
            written = dict.fromkeys(tables, 0)
            with self.connect() as conn:
                cur = conn.cursor()
                for table in tables:
                    cur.execute(f"delete from {self.landing_schema}.{table} where {where}")

                def add_pg(frames: Mapping[str, pd.DataFrame]) -> None:
                    for table, frame in frames.items():
                        self._insert(conn, f"{self.landing_schema}.{table}", frame, skip_existing=False)
                        written[table] += len(frame)

                yield add_pg
            self._analyze_changed(written)
            return
        loading = _DuckDBLoading(self, list(tables))
        try:
            yield loading.add
            loading.finish(where)
        finally:
            loading.drop()

    def _analyze_changed(self, written: Mapping[str, int]) -> None:
        """PostgreSQL: refresh the statistics of the landing tables a load changed by a tenth or more, as
        autovacuum would later. The checks that follow plan on them: with none, a table loaded in bulk is
        estimated tiny, and Great Expectations' compound-uniqueness join over 826,394 landed events ran as a
        nested loop for more than six minutes (BENCHMARKS.md, issue 12)."""
        changed = {table: rows for table, rows in written.items() if rows >= ANALYZE_MIN_ROWS}
        if not changed:
            return
        with self.connect() as conn:
            cur = conn.cursor()
            cur.execute(
                "select c.relname, c.reltuples from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = %s and c.relname = any(%s)",
                (self.landing_schema, list(changed)),
            )
            estimated = dict(cur.fetchall())
            for table, rows in changed.items():
                if rows >= 0.1 * max(float(estimated.get(table, -1)), 0.0):  # -1: never analysed
                    cur.execute(f"analyze {self.landing_schema}.{table}")

    def replace_tables(self, frames: Mapping[str, pd.DataFrame]) -> None:
        """Replace small reference tables whole (catalogue, commitments, periods), in one transaction.

        A table keeps its identity, its rows deleted and inserted: PostgreSQL binds the staging views to the
        tables they read, so dropping one would fail (or, with cascade, drop the views). Only a table whose
        columns changed (a new version of the pipeline) is dropped with the views on it; the reference job's
        dbt build, which follows, recreates them."""
        with self.connect() as conn:
            cur = conn.cursor()
            cur.execute(f"create schema if not exists {self.landing_schema}")
            for table, frame in frames.items():
                qualified = f"{self.landing_schema}.{table}"
                existing = self._columns(cur, table)
                if existing != [str(c) for c in frame.columns]:
                    if existing:
                        cur.execute(f"drop table {qualified}{' cascade' if self.target == 'postgres' else ''}")
                    self._create(conn, qualified, frame)
                else:
                    cur.execute(f"delete from {qualified}")
                self._insert(conn, qualified, frame, skip_existing=False)

    def _columns(self, cur: Any, table: str) -> list[str]:
        cur.execute(
            "select column_name from information_schema.columns "
            f"where table_schema = '{self.landing_schema}' and table_name = '{table}' order by ordinal_position"
        )
        return [row[0] for row in cur.fetchall()]

    def _create(self, conn: Any, qualified: str, frame: pd.DataFrame) -> None:
        """An empty table with the frame's columns and types."""
        if self.target == "duckdb":
            conn.register("frame", frame)
            try:
                conn.cursor().execute(f"create table {qualified} as select * from frame limit 0")
            finally:
                conn.unregister("frame")
        else:
            conn.cursor().execute(f"create table {qualified} ({_pg_columns(frame)})")

    def append(self, table: str, frame: pd.DataFrame, skip_existing: bool = False) -> int:
        """Insert rows into a landing-schema table; with skip_existing, rows whose primary key is
        already there are skipped (`on conflict do nothing`). Returns the number of rows inserted."""
        with self.connect() as conn:
            return self._insert(conn, f"{self.landing_schema}.{table}", frame, skip_existing)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run one statement in its own transaction (`%s` placeholders); returns its rows, if any
        (e.g. of `update ... returning`)."""
        with self.connect() as conn:
            return self._statement(conn, sql, params)

    @contextmanager
    def statements(self) -> Iterator[Callable[[str, Sequence[Any]], list[tuple]]]:
        """`execute` over one connection: each statement is committed as it runs, for a loop that records each
        step as it happens (a delivery marked sent right after it went out) without opening the warehouse for
        every step (DuckDB checkpoints its file at every close: tens of ms each)."""
        with self._opened() as conn:
            if self.target == "duckdb":  # autocommits each statement outside begin()
                conn = _DuckDBTransaction(conn)
            else:
                conn.autocommit = True
            yield lambda sql, params=(): self._statement(conn, sql, params)

    def _statement(self, conn: Any, sql: str, params: Sequence[Any]) -> list[tuple]:
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


class _DuckDBLoading:
    """A DuckDB load in batches (`Warehouse.replacing_partitions`): the first batch is kept; from the second
    on, the batches go to loading tables, one per landing table, named with the process id so that a later
    load can drop what a killed process left behind."""

    def __init__(self, warehouse: Warehouse, tables: list[str]) -> None:
        self.warehouse, self.tables = warehouse, tables
        self.first: dict[str, pd.DataFrame] | None = None
        self.staged: dict[str, str] = {}  # landing table -> its loading table

    @property
    def schema(self) -> str:
        return f"{self.warehouse.schema_name}_loading"

    def add(self, frames: Mapping[str, pd.DataFrame]) -> None:
        if not self.staged and (self.first is None or not set(frames) & set(self.first)):
            self.first = {**(self.first or {}), **frames}  # other tables' rows of the same batch (the log)
            return
        with self.warehouse.connect() as conn:
            if not self.staged:
                self._create(conn)
            for batch in (self.first, frames) if self.first is not None else (frames,):
                for table, frame in batch.items():
                    self.warehouse._insert(conn, self.staged[table], frame, skip_existing=False)
        self.first = None

    def _create(self, conn: Any) -> None:
        cur = conn.cursor()
        cur.execute(f"create schema if not exists {self.schema}")
        cur.execute("select table_name from information_schema.tables where table_schema = ?", [self.schema])
        for (name,) in cur.fetchall():
            owner = re.search(r"__(\d+)_[0-9a-f]+$", name)
            if owner and not _process_alive(int(owner.group(1))):
                cur.execute(f"drop table if exists {self.schema}.{name}")
        token = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
        for table in self.tables:
            staged = self.staged[table] = f"{self.schema}.{table}__{token}"
            cur.execute(f"create table {staged} as select * from {self.warehouse.landing_schema}.{table} limit 0")

    def finish(self, where: str) -> None:
        if not self.staged:
            self.warehouse.replace_partitions(where, self.first or {table: pd.DataFrame() for table in self.tables})
            return
        with self.warehouse.connect() as conn:
            cur = conn.cursor()
            for table, staged in self.staged.items():
                cur.execute(f"delete from {self.warehouse.landing_schema}.{table} where {where}")
                cur.execute(f"insert into {self.warehouse.landing_schema}.{table} select * from {staged}")
                cur.execute(f"drop table {staged}")
        self.staged = {}

    def drop(self) -> None:
        if self.staged:
            with suppress(Exception), self.warehouse.connect() as conn:
                for staged in self.staged.values():
                    conn.cursor().execute(f"drop table if exists {staged}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _schema_name(name: str) -> str:
    if not SCHEMA_NAME.match(name):
        raise ConfigError(
            f"WAREHOUSE_SCHEMA={name!r} is not a schema name: set WAREHOUSE_SCHEMA to lower-case letters, digits "
            "and underscores, starting with a letter or underscore, at most 55 characters (e.g. commitments)"
        )
    return name


def keeps_duckdb_open(step: Callable) -> Callable:
    """For the body of a `warehouse`-pool step, which gets the `warehouse` resource (Dagster passes a resource
    by its key, as a keyword): the DuckDB file stays open while the step runs (Warehouse.kept_open), and no
    longer. The step holds the pool's slot meanwhile, so no other step waits for the file; between two steps of
    a run another run's step may need it."""
    if "warehouse" not in inspect.signature(step).parameters:
        raise TypeError(f"{step.__name__} has no `warehouse` parameter for keeps_duckdb_open to keep open")

    if inspect.isgeneratorfunction(step):

        @functools.wraps(step)
        def yielding(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with kwargs["warehouse"].kept_open():
                yield from step(*args, **kwargs)

        return yielding

    @functools.wraps(step)
    def returning(*args: Any, **kwargs: Any) -> Any:
        with kwargs["warehouse"].kept_open():
            return step(*args, **kwargs)

    return returning


def pg_session_options(environ: Mapping[str, str] | None = None) -> str:
    """The options of every PostgreSQL session the pipeline opens (PG_SESSION_OPTIONS), then the environment's."""
    given = (os.environ if environ is None else environ).get("PGOPTIONS", "").strip()
    return f"{PG_SESSION_OPTIONS} {given}".strip()


def _postgres_connection(env: Mapping[str, str]) -> dict[str, Any]:
    missing = [variable for variable in PG_REQUIRED if not env.get(variable)]
    if missing:
        raise ConfigError(
            f"WAREHOUSE_TARGET=postgres needs the connection in the environment: set {', '.join(missing)} "
            "(PGPORT defaults to 5432; PGPASSWORD if the server asks for one), e.g. "
            "PGHOST=127.0.0.1 PGUSER=postgres PGDATABASE=commitments"
        )
    port = env.get("PGPORT") or "5432"
    if not (port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(f"PGPORT={port!r} is not a port: set PGPORT to a number from 1 to 65535 (default 5432)")
    return {
        "pg_host": env["PGHOST"],
        "pg_port": int(port),
        "pg_user": env["PGUSER"],
        "pg_password": EnvVar("PGPASSWORD") if env.get("PGPASSWORD") else "",
        "pg_database": env["PGDATABASE"],
    }


def _lock_wait_seconds(env: Mapping[str, str]) -> float:
    value = env.get(LOCK_WAIT_VARIABLE) or "600"
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise ConfigError(f"{LOCK_WAIT_VARIABLE}={value!r} is not a number of seconds: e.g. 600 (the default)")
    return seconds


def _memory_limit(env: Mapping[str, str]) -> str:
    value = (env.get(MEMORY_LIMIT_VARIABLE) or DEFAULT_MEMORY_LIMIT).strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B|%)", value, flags=re.IGNORECASE):
        raise ConfigError(
            f"{MEMORY_LIMIT_VARIABLE}={value!r} is not an amount of memory: e.g. {DEFAULT_MEMORY_LIMIT} of RAM (the "
            "default), 4GB or 8GiB"
        )
    return value


def _first_line(err: BaseException) -> str:
    """The reason in a driver's message: libpq's "connection to server at ... failed: <reason>" keeps the reason."""
    line = next((part.strip() for part in str(err).splitlines() if part.strip()), type(err).__name__)
    return line.split(" failed: ", 1)[-1]


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
    """COPY in CSV format, written by Arrow (columnar, about 5x faster than pandas' `to_csv`). Arrow quotes
    every text value, an empty one included, and writes a missing value as an unquoted empty field: with
    COPY's default CSV NULL (the unquoted empty string) only a missing value is NULL, and a text value `\\N`,
    a backslash, a tab, a newline or `""` arrives as written.

    The columns are made one chunk each: a text column pandas concatenated from an empty frame and another
    converts to an empty chunk that Arrow's CSV writer (pyarrow 26) writes as NUL bytes in place of the text."""
    if frame.empty:
        return
    table = pa.Table.from_pandas(frame, preserve_index=False).combine_chunks()
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, batch_size=65_536))
    buffer.seek(0)
    cur.copy_expert(f"copy {qualified} ({', '.join(frame.columns)}) from stdin with (format csv)", buffer)
