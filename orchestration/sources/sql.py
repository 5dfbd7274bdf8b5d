"""Extraction from SQL databases through SQLAlchemy (any dialect with a driver installed).

The connection and the query are bounded by the source's `limits` (orchestration/sources/config.py),
passed to the driver in the form its dialect knows: a server that accepts TCP and never answers, or a
query that never ends, fails the extraction instead of holding the run. A failure rejects the batch with
the source, the database (password masked) and what to change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from orchestration.periods import Window
from orchestration.secrets import redact
from orchestration.sources.config import SourceConfig, SourceLimits
from orchestration.sources.errors import SOURCE_QUERY_FAILED, SOURCE_TIMEOUT, SOURCE_UNREACHABLE, SourceRejected

_LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
# Driver error codes of a query stopped by its time limit: PostgreSQL query_canceled (statement_timeout);
# MySQL/MariaDB lost connection during query (read_timeout), max_execution_time, max_statement_time.
_PG_QUERY_CANCELED = "57014"
_MYSQL_TIMED_OUT = frozenset({2013, 3024, 1969})


def connect_args(url: URL, limits: SourceLimits) -> dict[str, Any]:
    """The driver's own connect and statement/read timeouts for the dialect of `url` (none known: {})."""
    connect = limits.seconds("connect_timeout")
    statement = min(limits.seconds("statement_timeout"), limits.seconds("total_timeout"))
    backend = url.get_backend_name()
    if backend == "postgresql":
        # libpq's connect_timeout bounds the handshake too; statement_timeout is enforced by the server.
        options = " ".join(filter(None, [url.query.get("options"), f"-c statement_timeout={statement * 1000}"]))
        return {"connect_timeout": connect, "options": options}
    if backend in ("mysql", "mariadb"):
        # The socket read timeout also bounds the server's greeting, which connect_timeout alone does not.
        return {"connect_timeout": connect, "read_timeout": statement, "write_timeout": statement}
    if backend == "sqlite":
        return {"timeout": connect}  # how long to wait for another writer's lock
    return {}


def read_sql(cfg: SourceConfig, window: Window) -> pd.DataFrame:
    """The window's rows in one frame (the batches of `read_sql_batches` put together)."""
    return pd.concat(list(read_sql_batches(cfg, window)), ignore_index=True)


def read_sql_batches(cfg: SourceConfig, window: Window) -> Iterator[pd.DataFrame]:
    """Run the declared query for the window and yield its rows `batch_rows` at a time (at least one frame,
    empty when no row matches); bind parameters are naive local times of the source, as strings, because
    that compares correctly against text (SQLite) and DATETIME columns alike.

    The rows stream from a server-side cursor (PostgreSQL, MySQL/MariaDB; SQLite reads lazily anyway), so a
    window of ten million rows never sits in memory at once. They are read as the driver's plain tuples:
    SQLAlchemy's `Row` objects cost pandas an exception-driven attribute probe per row (BENCHMARKS.md,
    finding 5)."""
    params = {
        "window_start": window.start.astimezone(cfg.zone).strftime(_LOCAL_FORMAT),
        "window_end": window.end.astimezone(cfg.zone).strftime(_LOCAL_FORMAT),
    }
    url = make_url(cfg.connection_url())
    engine = create_engine(url, connect_args=connect_args(url, cfg.limits))
    shown = redact(url.render_as_string(hide_password=True))
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise _rejected(cfg, shown, "cannot connect", exc, SOURCE_UNREACHABLE) from None
        with conn:
            try:
                result = conn.execution_options(stream_results=True).execute(text(cfg.query), params)
                columns = list(result.keys())
                # SQLAlchemy's buffered strategy for server-side cursors has already fetched the first row:
                # take it through the result, then read the driver's cursor directly.
                rows = [tuple(row) for row in result.fetchmany(1)]
                cursor = None if result.closed else result.cursor
            except SQLAlchemyError as exc:
                raise _rejected(cfg, shown, "the query failed", exc, _query_failure(exc)) from None
            done, yielded = cursor is None, False
            while rows or not done:
                if not done and len(rows) < cfg.batch_rows:
                    want = cfg.batch_rows - len(rows)
                    try:
                        more = cursor.fetchmany(want)
                    except Exception as exc:  # the driver's own error: no result wraps it any more
                        wrapped = DBAPIError(None, None, exc)
                        raise _rejected(cfg, shown, "the query failed", wrapped, _query_failure(wrapped)) from None
                    rows.extend(more)
                    done = len(more) < want
                    continue
                yield _frame(rows[: cfg.batch_rows], columns)
                rows, yielded = rows[cfg.batch_rows :], True
            if not yielded:
                yield _frame([], columns)
            result.close()
    finally:
        engine.dispose()


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    """Tuples to a frame, column by column; nullable dtypes, so that a batch's types do not depend on whether
    it happens to hold a null (an id column read as float 1.0 in one batch and int 1 in the next)."""
    values = _transposed(rows, len(columns))
    return pd.DataFrame({name: _column(column) for name, column in zip(columns, values, strict=True)})


def _transposed(rows: list[tuple], width: int) -> list[Any]:
    """The rows' columns. numpy fills an object matrix from the tuples in C, three times as fast as `zip`; a
    value numpy would take for a sequence to unpack (an array column) makes it refuse, and `zip` does it."""
    if not rows:
        return [() for _ in range(width)]
    matrix = np.empty((len(rows), width), dtype=object)
    try:
        matrix[:] = rows
    except (ValueError, TypeError):
        return list(zip(*rows, strict=True))
    return list(matrix.T)


# The Arrow types whose pandas dtype is the one pandas' own inference gives the same values (below).
_ARROW_NULLABLE = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype(), pa.string(): pd.StringDtype("pyarrow")}


def _column(values: Any) -> pd.Series:
    """One column's values typed by Arrow, in one pass in C, where Arrow finds all of them integers, booleans or
    texts; pandas' inference otherwise (mixed values, floats, which it makes integers when they all are whole,
    instants, decimals), value by value."""
    try:
        typed = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        typed = None
    if typed is not None and typed.type in _ARROW_NULLABLE:
        return typed.to_pandas(types_mapper=_ARROW_NULLABLE.get)
    return pd.Series(values, dtype=object).infer_objects().convert_dtypes(dtype_backend="numpy_nullable")


def _query_failure(exc: SQLAlchemyError) -> str:
    return SOURCE_TIMEOUT if _timed_out(exc) else SOURCE_QUERY_FAILED


def _timed_out(exc: SQLAlchemyError) -> bool:
    orig = getattr(exc, "orig", None)
    code = orig.args[0] if orig is not None and orig.args else None
    # SQLite says "database is locked" when another writer held the lock longer than `timeout`.
    words = str(orig)
    return (
        getattr(orig, "pgcode", None) == _PG_QUERY_CANCELED
        or code in _MYSQL_TIMED_OUT
        or any(w in words for w in ("timeout", "timed out", "database is locked"))
    )


def _rejected(cfg: SourceConfig, shown: str, what: str, exc: SQLAlchemyError, reason_code: str) -> SourceRejected:
    # The driver's own words, first line only (SQLAlchemy appends the statement and a link).
    detail = str(exc.orig if isinstance(exc, DBAPIError) else exc).strip().splitlines()[0]
    limits = cfg.limits
    hint = {
        SOURCE_UNREACHABLE: f"limits.connect_timeout = {limits.connect_timeout}",
        SOURCE_TIMEOUT: f"limits.connect_timeout = {limits.connect_timeout} is how long SQLite waits for another "
        "writer's lock"
        if "database is locked" in detail
        else f"limits.statement_timeout = {limits.statement_timeout}, limits.total_timeout = {limits.total_timeout}",
        SOURCE_QUERY_FAILED: "check the declared query",
    }[reason_code]
    return SourceRejected(
        f"source {cfg.name}: {what} on {shown} ({type(exc.orig if isinstance(exc, DBAPIError) else exc).__name__}: "
        f"{redact(detail)}); {hint}; the whole batch is rejected",
        reason_code,
    )
