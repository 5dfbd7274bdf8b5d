"""A source's rows for a window, read by the reader of its kind (one module per kind of source system)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from orchestration.periods import Window
from orchestration.secrets import scrubbed
from orchestration.sources.config import SourceConfig
from orchestration.sources.file import read_file
from orchestration.sources.http import read_http
from orchestration.sources.sql import read_sql

READERS: dict[str, Callable[[SourceConfig, Window], pd.DataFrame]] = {
    "sql": read_sql,
    "file": read_file,
    "http": read_http,
}


def read(cfg: SourceConfig, window: Window) -> pd.DataFrame:
    """The readers sort what fails into a rejection with its reason code (unreachable, timeout, query
    failed …, orchestration/sources/errors.py) and mask credentials; this also masks what a driver or
    library raised unforeseen."""
    with scrubbed():
        return READERS[cfg.kind](cfg, window)
