"""A source's rows for a window, read by the reader of its kind (one module per kind of source system)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd

from orchestration.periods import Window
from orchestration.secrets import scrubbed
from orchestration.sources.config import SourceConfig
from orchestration.sources.file import read_file_batches
from orchestration.sources.http import read_http_batches
from orchestration.sources.sql import read_sql_batches

READERS: dict[str, Callable[[SourceConfig, Window], Iterator[pd.DataFrame]]] = {
    "sql": read_sql_batches,
    "file": read_file_batches,
    "http": read_http_batches,
}


def read_batches(cfg: SourceConfig, window: Window) -> Iterator[pd.DataFrame]:
    """The window's rows, about `cfg.batch_rows` at a time (at least one frame). The readers sort what fails
    into a rejection with its reason code (unreachable, timeout, query failed …, orchestration/sources/
    errors.py) and mask credentials; this also masks what a driver or library raised unforeseen."""
    batches = _rebatched(READERS[cfg.kind](cfg, window), cfg.batch_rows)
    try:
        while True:
            with scrubbed():
                batch = next(batches, None)
            if batch is None:
                return
            yield batch
    finally:
        batches.close()


def _rebatched(chunks: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The readers' chunks (a file's blocks, HTTP pages, fetches) cut and joined into frames of `rows` rows,
    the last one shorter; one empty frame when there is no row at all."""
    held: list[pd.DataFrame] = []
    count, yielded, first = 0, False, None
    for chunk in chunks:
        first = chunk if first is None else first
        if chunk.empty:
            continue
        held.append(chunk)
        count += len(chunk)
        while count >= rows:
            joined = pd.concat(held, ignore_index=True) if len(held) > 1 else held[0]
            yield joined.iloc[:rows].reset_index(drop=True)
            held, count, yielded = ([joined.iloc[rows:]] if count > rows else []), count - rows, True
    if held:
        yield (pd.concat(held, ignore_index=True) if len(held) > 1 else held[0]).reset_index(drop=True)
    elif not yielded and first is not None:
        yield first


def read(cfg: SourceConfig, window: Window) -> pd.DataFrame:
    """The window's rows in one frame (a short window: the live evaluation's increments, tests)."""
    frames = list(read_batches(cfg, window))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
