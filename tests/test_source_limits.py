"""A source system cannot hang a run: every call has connect, read and total deadlines, HTTP paging has a
cap and refuses a page it has already read, and transient HTTP failures are retried within the deadline.
Each probe is a tiny local server that misbehaves one way; the source's limits are set to a second or
two, and a guard fails the test (instead of hanging it) if the reader does not give up in time."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration.periods import Window
from orchestration.sources.config import SourceConfig, SourceLimits, load_source
from orchestration.sources.errors import SourceRejected
from orchestration.sources.http import read_http
from orchestration.sources.sql import read_sql
from tests.conftest import MARIADB_HOST, MARIADB_PORT, PG_HOST, PG_PORT, require_server, settings_of_env

FIXTURES = Path(__file__).parent / "fixtures" / "bad_inputs"
DAY = date(2026, 10, 24)
FAST = {"connect_timeout": "1s", "read_timeout": "1s", "page_timeout": "2s", "statement_timeout": "2s",
        "total_timeout": "5s", "retries": 0}  # fmt: skip


def window() -> Window:
    return Window.for_days(DAY, DAY, settings_of_env().business_time_zone)


def declared(kind: str, url_env: str, url: str, monkeypatch: pytest.MonkeyPatch, **limits) -> SourceConfig:
    monkeypatch.setenv(url_env, url)
    cfg = load_source(FIXTURES / kind / "source.yaml", settings_of_env())
    return cfg.model_copy(update={"limits": SourceLimits(**{**FAST, **limits})})


def gives_up_within(seconds: float, read: Callable[[], object]) -> tuple[BaseException | None, float]:
    """Run a reader in a thread: what it raised and how long it took; fail if it is still running after
    `seconds` (the reader on a branch without limits never returns)."""
    outcome: dict[str, BaseException | None] = {"error": None}

    def run() -> None:
        try:
            read()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    began = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"the reader was still waiting after {seconds}s: one stuck source would hang the run")
    return outcome["error"], time.monotonic() - began


# --- HTTP ---------------------------------------------------------------------------------------------


class _Api(BaseHTTPRequestHandler):
    """Answers each GET with `answer(handler, page)`; records the pages asked for."""

    answer: Callable[[BaseHTTPRequestHandler, str], None]
    asked: list[str]

    def do_GET(self) -> None:
        query = dict(p.split("=", 1) for p in self.path.split("?", 1)[-1].split("&") if "=" in p)
        self.asked.append(query.get("page", ""))
        self.answer(self, query.get("page", ""))

    def send_json(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


@pytest.fixture
def api() -> Iterator[Callable[[Callable], tuple[str, list[str]]]]:
    servers: list[ThreadingHTTPServer] = []

    def serve(answer: Callable[[BaseHTTPRequestHandler, str], None]) -> tuple[str, list[str]]:
        asked: list[str] = []
        handler = type("Api", (_Api,), {"answer": staticmethod(answer), "asked": asked})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", asked

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections and never says a byte: a hung server, or a firewall that swallows answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    for conn in held:
        conn.close()
    listener.close()


def test_http_next_page_that_never_becomes_null_stops_at_the_page_cap(api, monkeypatch) -> None:
    url, asked = api(lambda h, page: h.send_json({"data": [], "next_page": int(page) + 1}))
    cfg = declared("http", "BAD_HTTP_URL", url, monkeypatch, max_pages=25)

    error, _ = gives_up_within(10, lambda: read_http(cfg, window()))

    assert isinstance(error, SourceRejected) and error.reason_code == "page_limit_exceeded"
    assert len(asked) == 25
    assert "source bad_http: page 26 of" in str(error) and "limits.max_pages = 25" in str(error)


def test_http_repeated_page_token_rejects_the_batch_naming_page_and_value(api, monkeypatch) -> None:
    # A cursor API that hands back the same cursor forever.
    url, asked = api(lambda h, page: h.send_json({"data": [], "next_page": "c-7f"}))
    cfg = declared("http", "BAD_HTTP_URL", url, monkeypatch)

    error, _ = gives_up_within(10, lambda: read_http(cfg, window()))

    assert isinstance(error, SourceRejected) and error.reason_code == "repeated_page_token"
    assert asked == ["1", "c-7f"]
    assert "source bad_http: page 'c-7f'" in str(error)
    assert "'next_page' after page 'c-7f' is 'c-7f', a page already read" in str(error)


def _drip(handler: BaseHTTPRequestHandler, page: str) -> None:
    """Headers at once, then one byte of the body every 0.3 s: each byte beats any read timeout."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(1000):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.3)
    except OSError:  # the client gave up
        pass


def test_http_server_that_drips_bytes_hits_the_page_deadline(api, monkeypatch) -> None:
    url, asked = api(_drip)
    cfg = declared("http", "BAD_HTTP_URL", url, monkeypatch, read_timeout="1s", page_timeout="2s")

    error, took = gives_up_within(15, lambda: read_http(cfg, window()))

    assert isinstance(error, SourceRejected) and error.reason_code == "source_timeout"
    assert "page 1 of" in str(error) and "limits.page_timeout = 2s" in str(error)
    assert 1.5 < took < 5


def test_http_retries_of_a_dripping_server_stop_at_the_total_deadline(api, monkeypatch) -> None:
    url, asked = api(_drip)
    cfg = declared("http", "BAD_HTTP_URL", url, monkeypatch, page_timeout="1s", total_timeout="3s", retries=10)

    error, took = gives_up_within(15, lambda: read_http(cfg, window()))

    assert isinstance(error, SourceRejected) and error.reason_code == "extraction_deadline"
    assert "limits.total_timeout = 3s" in str(error)
    assert 2.5 < took < 6 and 1 < len(asked) < 11  # retried, but not all ten times


def test_http_server_that_never_answers_hits_the_read_timeout(silent_server, monkeypatch) -> None:
    cfg = declared("http", "BAD_HTTP_URL", f"http://{silent_server}", monkeypatch, read_timeout="1s", retries=1)

    error, took = gives_up_within(15, lambda: read_http(cfg, window()))

    assert isinstance(error, SourceRejected) and error.reason_code == "source_timeout"
    assert "no answer within limits.read_timeout = 1s" in str(error) and "after 2 attempt(s)" in str(error)
    assert 2 <= took < 5  # two attempts of a second each, and a short backoff


def test_http_refused_connection_is_one_clear_rejection(monkeypatch) -> None:
    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    cfg = declared("http", "BAD_HTTP_URL", f"http://127.0.0.1:{port}", monkeypatch, retries=1)

    error, _ = gives_up_within(10, lambda: read_http(cfg, window()))

    assert isinstance(error, SourceRejected) and error.reason_code == "source_unreachable"
    assert f"source bad_http: page 1 of http://127.0.0.1:{port}/api/v1/status-changes" in str(error)
    assert "cannot reach the server (ConnectError" in str(error)


def test_http_transient_errors_are_retried(api, monkeypatch) -> None:
    failures = iter([503, 429])

    def flaky(handler: _Api, page: str) -> None:
        status = next(failures, None)
        if status:
            handler.send_json({"error": "busy"}, status)
        else:
            handler.send_json({"data": [{"event_id": "H1"}], "next_page": None})

    url, asked = api(flaky)
    cfg = declared("http", "BAD_HTTP_URL", url, monkeypatch, retries=2)

    error, _ = gives_up_within(10, lambda: read_http(cfg, window()))
    assert error is None and asked == ["1", "1", "1"]
    assert list(read_http(cfg, window()).event_id) == ["H1"]  # the server now answers at once


def test_limits_are_validated_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="limits.read_timeout must be at least 1s"):
        SourceLimits(read_timeout="0s")
    with pytest.raises(ValueError, match="not a duration"):
        SourceLimits(total_timeout="soon")
    assert SourceLimits().model_dump() == {
        "connect_timeout": "10s", "read_timeout": "60s", "page_timeout": "5min", "statement_timeout": "10min",
        "total_timeout": "30min", "max_pages": 10_000, "retries": 3,
    }  # fmt: skip


# --- SQL ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["postgresql+psycopg2", "mysql+pymysql"])
def test_sql_server_that_accepts_tcp_and_never_answers_hits_the_connect_timeout(
    silent_server: str, driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{driver}://reader:pw-{uuid.uuid4().hex}@{silent_server}/oa"
    cfg = declared("sql", "BAD_SQL_URL", url, monkeypatch, connect_timeout="2s")

    error, took = gives_up_within(15, lambda: read_sql(cfg, window()))

    assert isinstance(error, SourceRejected) and error.reason_code == "source_unreachable", error
    assert f"source bad_sql: cannot connect on {driver}://reader:***@{silent_server}/oa" in str(error)
    assert "limits.connect_timeout = 2s" in str(error) and url.split(":")[2].split("@")[0] not in str(error)
    assert took < 8


def _slow_query(cfg: SourceConfig, sleep: str) -> SourceConfig:
    return cfg.model_copy(update={"query": f"SELECT 1 AS task_id, {sleep} AS slept"})


def test_sql_slow_query_hits_the_statement_timeout_on_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    url = f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/test?options=-c%20application_name%3Dprobe"
    cfg = _slow_query(declared("sql", "BAD_SQL_URL", url, monkeypatch, statement_timeout="1s"), "pg_sleep(20)")

    error, took = gives_up_within(15, lambda: read_sql(cfg, window()))

    assert isinstance(error, SourceRejected) and error.reason_code == "source_timeout", error
    assert "QueryCanceled" in str(error) and "limits.statement_timeout = 1s" in str(error)
    assert took < 5
    # The declared URL's own options still apply beside the timeout.
    fast = cfg.model_copy(update={"query": "SELECT current_setting('application_name') AS app"})
    assert list(read_sql(fast, window()).app) == ["probe"]


def test_sql_slow_query_hits_the_read_timeout_on_mariadb(monkeypatch: pytest.MonkeyPatch) -> None:
    require_server("MariaDB", MARIADB_HOST, MARIADB_PORT)
    url = f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/mysql"
    cfg = _slow_query(declared("sql", "BAD_SQL_URL", url, monkeypatch, statement_timeout="1s"), "SLEEP(20)")

    error, took = gives_up_within(15, lambda: read_sql(cfg, window()))

    assert isinstance(error, SourceRejected) and error.reason_code == "source_timeout", error
    assert "limits.statement_timeout = 1s" in str(error)
    assert took < 5


def test_sql_sqlite_locked_by_another_writer_waits_only_the_connect_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "oa.sqlite"
    writer = sa.create_engine(f"sqlite:///{path}")
    with writer.connect() as conn:
        conn.exec_driver_sql("create table wf_task (task_id int, update_time text)")
        conn.commit()
    cfg = _slow_query(declared("sql", "BAD_SQL_URL", f"sqlite:///{path}", monkeypatch, connect_timeout="1s"), "1")
    cfg = cfg.model_copy(update={"query": "INSERT INTO wf_task VALUES (1, 'x') RETURNING task_id"})
    try:
        with writer.connect() as conn:
            conn.exec_driver_sql("begin exclusive")
            error, took = gives_up_within(10, lambda: read_sql(cfg, window()))
            conn.rollback()
    finally:
        writer.dispose()

    assert isinstance(error, SourceRejected) and error.reason_code == "source_timeout", error
    assert "database is locked" in str(error) and "limits.connect_timeout = 1s is how long SQLite waits" in str(error)
    assert 0.8 < took < 5


def test_sql_bad_query_names_the_source_and_the_driver_message(tmp_path: Path, monkeypatch) -> None:
    cfg = declared("sql", "BAD_SQL_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}", monkeypatch)

    with pytest.raises(SourceRejected) as caught:
        read_sql(cfg, window())

    assert caught.value.reason_code == "source_query_failed"
    assert "source bad_sql: the query failed on sqlite:///" in str(caught.value)
    assert "no such table: wf_task" in str(caught.value)
