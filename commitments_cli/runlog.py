"""Where a command's noise goes: Dagster's event lines, dbt's output and library warnings are written to a
log file, so the console shows only the command's own progress and summary (and, with --verbose, the log
as well)."""

from __future__ import annotations

import io
import os
import select
import sys
import threading
from datetime import datetime
from multiprocessing import resource_tracker
from pathlib import Path
from typing import IO, Any


def terminal_stream(stream: IO[str]) -> IO[str]:
    """A stream that still reaches where `stream` goes after file descriptors 1 and 2 are redirected: a
    duplicate of its descriptor, or the stream itself when it has none (a test's captured output)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return stream
    return open(os.dup(fd), "w", encoding=getattr(stream, "encoding", None) or "utf-8", buffering=1)  # noqa: SIM115


def log_path(data_dir: Path, now: datetime | None = None) -> Path:
    return data_dir / "logs" / f"run-{(now or datetime.now()):%Y%m%d-%H%M%S}.log"


class _PipeWriter(io.TextIOBase):
    """sys.stdout and sys.stderr while a RunLog is open. A logging handler created meanwhile may keep it
    after the block: its later writes are dropped instead of failing on a closed file."""

    encoding = "utf-8"

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            if self._fd is not None:
                os.write(self._fd, text.encode("utf-8", errors="replace"))
        return len(text)

    def fileno(self) -> int:
        if self._fd is None:
            raise io.UnsupportedOperation("the run log is closed")
        return self._fd

    def release(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class RunLog:
    """Redirect everything written to stdout and stderr, by this process and by the processes it starts
    (dbt), into `path` while the block runs. With `echo`, the same text also goes to that stream."""

    def __init__(self, path: Path, echo: IO[str] | None = None) -> None:
        self.path = path
        self.echo = echo
        self._saved: dict[int, int] = {}
        self._python: tuple[Any, Any] | None = None
        self._pump: threading.Thread | None = None
        self._closing = threading.Event()

    def __enter__(self) -> RunLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115
        # multiprocessing's resource tracker (started by the first semaphore a library makes) lives as long as
        # this process and keeps the stderr it was started with: started now, that is the terminal, not the pipe.
        resource_tracker.ensure_running()
        read_end, write_end = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self._saved = {fd: os.dup(fd) for fd in (1, 2)}
        for fd in (1, 2):
            os.dup2(write_end, fd)
        self._python = (sys.stdout, sys.stderr)
        self._writer = _PipeWriter(write_end)
        sys.stdout = sys.stderr = self._writer
        self._pump = threading.Thread(target=self._copy, args=(read_end,), name="run-log", daemon=True)
        self._pump.start()
        return self

    def _copy(self, read_end: int) -> None:
        # Until the end of the pipe, or, once the block has ended, until nothing more is waiting in it: a process
        # the command started may outlive the block holding the pipe, and its end would never come.
        with open(read_end, "rb", buffering=0) as pipe:
            while True:
                if not select.select([pipe], [], [], 0.05)[0]:
                    if self._closing.is_set():
                        return
                    continue
                if not (chunk := pipe.read(65536)):
                    return
                self._file.write(chunk)
                if self.echo is not None:
                    self.echo.write(chunk.decode("utf-8", errors="replace"))
                    self.echo.flush()

    def __exit__(self, *exc: object) -> None:
        assert self._python is not None and self._pump is not None
        sys.stdout, sys.stderr = self._python
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)  # closes the pipe's copies on 1 and 2
            os.close(saved)
        self._writer.release()  # this process's last write end: what it wrote is in the pipe now
        self._closing.set()
        self._pump.join(timeout=10)
        self._file.close()
