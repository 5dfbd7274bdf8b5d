"""A source's rows for a window, read by the reader of its kind (one module per kind of source system)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pandas as pd

from orchestration.periods import Window
from orchestration.sources.config import SourceConfig
from orchestration.sources.errors import SourceRejected
from orchestration.sources.file import read_file
from orchestration.sources.http import read_http
from orchestration.sources.sql import read_sql

READERS: dict[str, Callable[[SourceConfig, Window], pd.DataFrame]] = {
    "sql": read_sql,
    "file": read_file,
    "http": read_http,
}
SOURCE_UNREACHABLE = "source_unreachable"
_DEFAULT_PORTS = {"http": 80, "https": 443, "mysql": 3306, "mariadb": 3306, "postgresql": 5432, "mssql": 1433}


class SourceUnreachable(SourceRejected):
    """The source system does not accept connections: one line with the source, its host and port."""

    reason_code = SOURCE_UNREACHABLE


def read(cfg: SourceConfig, window: Window) -> pd.DataFrame:
    try:
        return READERS[cfg.kind](cfg, window)
    except SourceRejected:
        raise
    except Exception as err:
        unreachable = _unreachable(cfg)
        if unreachable is None:
            raise
        raise SourceUnreachable(unreachable) from err


def _unreachable(cfg: SourceConfig) -> str | None:
    """After a failed read: the message when the source's host refuses TCP connections, else None (the
    failure was something else, e.g. a query error, and keeps its own message). Only the host and port of
    the URL are named: its user-info may hold a password."""
    if cfg.connection is None:
        return None
    try:
        parts = urlsplit(cfg.connection_url())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None  # a file-based database (SQLite) has no host
    port = port or _DEFAULT_PORTS.get(parts.scheme.split("+")[0])
    if port is None:
        return None
    try:
        with socket.create_connection((host, port), timeout=5):
            return None
    except OSError as err:
        reason = err.strerror or type(err).__name__
    return (
        f"source {cfg.name} ({cfg.kind}, {cfg.connection.url_env}) at {host}:{port} is not reachable: {reason}; "
        f"nothing was landed, the previous load stays"
    )
