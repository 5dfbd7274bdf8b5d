"""A small HTTP server for the demo ticket API, over the JSON-lines store the generator writes.

    GET /api/v1/status-changes?changed_from=ISO&changed_to=ISO&page=N&page_size=K

returns {"data": [...], "page": N, "next_page": N+1 or null}: the status changes with
changed_from <= changed_at < changed_to, ordered by (changed_at, event_id), pages counted from 1.
With TICKET_API_TOKEN set in the server's environment, requests need `Authorization: Bearer <token>`.

The store is read once into memory as its raw bytes plus sorted arrays of line offsets and times, so a
request is two binary searches and a slice of bytes: the lines are sent as written, never re-parsed.
When the file changes (the generator ran again) it is reloaded on the next request.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hmac
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

ENDPOINT = "/api/v1/status-changes"
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 50_000


class EventStore:
    """The JSON-lines store in memory, sorted by (changed_at, event_id)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._load()

    def _file_stamp(self) -> tuple[int, int]:
        stat = self.path.stat()
        return stat.st_mtime_ns, stat.st_size

    def _load(self) -> None:
        stamp = self._file_stamp()
        blob = self.path.read_bytes()
        if blob and not blob.endswith(b"\n"):
            blob += b"\n"
        ends = np.flatnonzero(np.frombuffer(blob, dtype=np.uint8) == ord("\n"))
        starts = np.r_[0, ends[:-1] + 1] if ends.size else np.zeros(0, dtype=np.int64)
        blank = (ends == starts) | ((ends == starts + 1) & (np.frombuffer(blob, np.uint8)[starts] == ord("\r")))
        has_blank_lines = bool(blank.any())
        starts, ends = starts[~blank], ends[~blank]

        if starts.size:
            # Arrow's JSON reader parses only the two sort keys, in C++, for the whole file at once.
            table = pa_json.read_json(
                io.BytesIO(blob),
                read_options=pa_json.ReadOptions(block_size=1 << 24),
                parse_options=pa_json.ParseOptions(
                    explicit_schema=pa.schema([("event_id", pa.int64()), ("changed_at", pa.string())]),
                    unexpected_field_behavior="ignore",
                ),
            )
            if table.num_rows != starts.size:
                raise ValueError(f"{self.path}: {table.num_rows} JSON rows but {starts.size} lines")
            event_id = table.column("event_id").to_numpy()
            changed = pd.to_datetime(table.column("changed_at").to_pandas(), utc=True, format="ISO8601")
            times = changed.dt.tz_convert(None).to_numpy(dtype="datetime64[us]").view(np.int64)
        else:
            event_id = times = np.zeros(0, dtype=np.int64)

        order = np.lexsort((event_id, times))
        if has_blank_lines or not np.array_equal(order, np.arange(order.size)):
            # The generator writes in order and without blank lines; any other file is rebuilt once, here.
            blob = b"".join(blob[s : e + 1] for s, e in zip(starts[order], ends[order], strict=True))
            lengths = (ends - starts + 1)[order]
            ends = np.cumsum(lengths) - 1
            starts = ends - lengths + 1
            times = times[order]
        self._blob, self._starts, self._ends, self._times = blob, starts, ends, times
        self._stamp = stamp

    def _fresh(self) -> None:
        with self._lock:
            try:
                if self._file_stamp() != self._stamp:
                    self._load()
            except (OSError, ValueError, pa.ArrowInvalid) as exc:
                # A store being rewritten right now: keep serving the last good one, retry next request.
                print(f"ticket API: keeping the loaded store, {self.path} is unreadable: {exc}", flush=True)

    def __len__(self) -> int:
        return int(self._times.size)

    def page(self, changed_from: int | None, changed_to: int | None, page: int, page_size: int) -> bytes:
        """The JSON response body. Times are epoch microseconds; None means unbounded."""
        self._fresh()
        with self._lock:
            blob, starts, ends, times = self._blob, self._starts, self._ends, self._times
        lo = 0 if changed_from is None else int(np.searchsorted(times, changed_from, side="left"))
        hi = times.size if changed_to is None else int(np.searchsorted(times, changed_to, side="left"))
        first = lo + (page - 1) * page_size
        last = min(hi, first + page_size)
        # The lines sit back to back in the blob: the page is one slice with newlines made commas.
        rows = b""
        if first < last:
            rows = blob[starts[first] : ends[last - 1]].replace(b"\r", b"").replace(b"\n", b",")
        next_page = page + 1 if last < hi else None
        tail = json.dumps({"page": page, "next_page": next_page}).encode()
        return b'{"data":[' + rows + b"]," + tail[1:]


def _parse_instant(text: str, name: str) -> int:
    """ISO-8601 instant -> epoch microseconds; a time without offset is taken as UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as exc:
        raise ValueError(f"{name} is not an ISO-8601 instant: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _parse_positive(text: str | None, name: str, default: int, maximum: int | None = None) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer") from exc
    if value < 1 or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be between 1 and {maximum}" if maximum else f"{name} must be >= 1")
    return value


class TicketApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: EventStore, token: str | None, quiet: bool = True):
        self.store = store
        self.token = token or None
        self.quiet = quiet
        super().__init__(address, _Handler)

    def shutdown(self) -> None:
        """Stop serving and release the port."""
        super().shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: TicketApiServer
    protocol_version = "HTTP/1.1"  # keep-alive: the extractor pages through one connection

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.rstrip("/") != ENDPOINT:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {url.path}"})
            return
        if not self._authorised():
            self._send_json(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
            return
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=False).items()}
        try:
            changed_from = _parse_instant(query["changed_from"], "changed_from") if "changed_from" in query else None
            changed_to = _parse_instant(query["changed_to"], "changed_to") if "changed_to" in query else None
            page = _parse_positive(query.get("page"), "page", 1)
            page_size = _parse_positive(query.get("page_size"), "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        except ValueError as exc:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._send(HTTPStatus.OK, self.server.store.page(changed_from, changed_to, page, page_size))

    def _authorised(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def _send_json(self, status: HTTPStatus, payload: dict) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode())

    def _send(self, status: HTTPStatus, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", "Bearer")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        if not self.server.quiet:
            super().log_message(format, *args)


def make_server(
    store_path: Path, host: str = "127.0.0.1", port: int = 0, token: str | None = None, quiet: bool = True
) -> TicketApiServer:
    """A server (not yet serving). token None reads TICKET_API_TOKEN now; "" turns the check off."""
    if token is None:
        token = os.environ.get("TICKET_API_TOKEN")
    return TicketApiServer((host, port), EventStore(store_path), token, quiet=quiet)


def serve_in_background(
    store_path: Path, host: str = "127.0.0.1", port: int = 0, token: str | None = None
) -> tuple[TicketApiServer, str]:
    """Start the API in a daemon thread; port 0 picks a free port. Returns (server, base_url);
    server.shutdown() stops it. The token is read from TICKET_API_TOKEN at start unless given."""
    server = make_server(store_path, host, port, token)
    threading.Thread(target=server.serve_forever, name="ticket-api", daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    return server, f"http://{bound_host}:{bound_port}"


class ServerProcess:
    """The API served by a process of its own (`serve_in_subprocess`); shutdown() stops it."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process, self.url = process, url

    def shutdown(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def serve_in_subprocess(store_path: Path, token: str | None = None, start_timeout: float = 300.0) -> ServerProcess:
    """Start the API in a child process on a free loopback port, as a source system runs beside the pipeline:
    the store it holds in memory (1.9 GB of JSON lines at 10M node runs) and the time it spends serving are
    then not the pipeline's. Returns once the store is loaded and the port listens. The token is read from
    TICKET_API_TOKEN unless given ("" turns the check off)."""
    env = dict(os.environ)
    if token is not None:
        env["TICKET_API_TOKEN"] = token
    command = [sys.executable, "-m", "demo.ticket_api_server", "--store", str(store_path), "--port", "0"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(start_timeout)
    found = re.search(r"on (http://\S+?)" + re.escape(ENDPOINT), ready[0]) if ready else None
    if found is None:
        process.kill()
        raise RuntimeError(f"the ticket API did not start within {start_timeout:.0f} s (exit {process.poll()})")
    # Its later lines (a store it could not reload) go on being read, so that a full pipe never blocks it.
    threading.Thread(target=lambda: [print(line, end="") for line in process.stdout], daemon=True).start()  # type: ignore[union-attr]
    return ServerProcess(process, found.group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the demo ticket API over a JSON-lines store.")
    parser.add_argument("--store", type=Path, default=Path("data/sources/ticket_events.jsonl"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    server = make_server(args.store, args.host, args.port, quiet=not args.verbose)
    auth = "bearer token required" if server.token else "no token"
    url = f"http://{args.host}:{server.server_address[1]}{ENDPOINT}"
    print(f"ticket API on {url} ({len(server.store):,} events, {auth})", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped by its parent: close the port on the way out
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
