"""Extraction from SQL databases through SQLAlchemy (any dialect with a driver installed).

The connection and the query are bounded by the source's `limits` (orchestration/sources/config.py),
passed to the driver in the form its dialect knows: a server that accepts TCP and never answers, or a
query that never ends, fails the extraction instead of holding the run. A failure rejects the batch with
the source, the database (password masked) and what to change.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
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
    """Run the declared query for the window; bind parameters are naive local times of the source,
    as strings, because that compares correctly against text (SQLite) and DATETIME columns alike."""
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
                result = conn.execute(text(cfg.query), params)
                return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            except SQLAlchemyError as exc:
                code = SOURCE_TIMEOUT if _timed_out(exc) else SOURCE_QUERY_FAILED
                raise _rejected(cfg, shown, "the query failed", exc, code) from None
    finally:
        engine.dispose()


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
