"""A source's rows for a window, read by the reader of its kind (one module per kind of source system)."""

from __future__ import annotations

import queue
import threading
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
    batches = _read_ahead(_rebatched(READERS[cfg.kind](cfg, window), cfg.batch_rows))
    try:
        while True:
            with scrubbed():
                batch = next(batches, None)
            if batch is None:
                return
            yield batch
    finally:
        batches.close()


def _read_ahead(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The frames, each read while the caller normalises and lands the one before: a thread of its own reads
    the source (waiting on a server, parsing pages or blocks in Arrow, a driver's fetch: mostly without the
    GIL). One frame waits at most. The reader lives and is closed in that thread; what it raises is raised
    here, in the caller's thread."""
    ahead = _Ahead(frames)
    try:
        while True:
            kind, value = ahead.handoff.get()
            if kind == "end":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        ahead.stop.set()
        ahead.thread.join()


class _Ahead:
    """`_read_ahead`'s reading thread and what it hands over: ("frame", frame)s, then ("end", None) or
    ("error", exception)."""

    def __init__(self, frames: Iterator[pd.DataFrame]) -> None:
        self.frames = frames
        self.handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, name="source reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for frame in self.frames:
                if not self._handed(("frame", frame)):
                    return
            self._handed(("end", None))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            self._handed(("error", exc))
        finally:
            self.frames.close()  # type: ignore[attr-defined]

    def _handed(self, item: tuple[str, object]) -> bool:
        """Wait for room to hand `item` over, unless the caller has stopped reading."""
        while not self.stop.is_set():
            try:
                self.handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


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
