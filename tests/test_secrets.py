"""Credentials never leave the process: a secret planted in every credential variable (URL user-info,
tokens, PGPASSWORD, SMTP password, webhook URL) appears in no artefact of a run, whether the run fails at
a source or succeeds: not in the Dagster event log and storage, the compute logs, the warehouse (landing,
quarantine, extraction log, quality summary), dbt's logs, nor in the error a caller sees."""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from demo import generator as gen
from demo.ticket_api_server import serve_in_background
from orchestration.monitoring.channels import DeliveryError, send_email, send_webhook
from orchestration.monitoring.config import Channel
from orchestration.monitoring.templates import Message
from orchestration.secrets import MASK, redact, scrubbed, split_userinfo
from tests.conftest import CONFIG_DIR, PROJECT_DIR, query

# --- the masking function -----------------------------------------------------------------------------


def test_redact_masks_user_info_key_parameters_and_secret_variables() -> None:
    env = {"PGPASSWORD": "pg-Secret-1", "TICKET_API_TOKEN": "tok-Secret-2", "HOME": "/root", "PGUSER": "postgres",
           "OA_DB_URL": "mysql+pymysql://oa:p%40ss-Secret-3@db:3306/oa"}  # fmt: skip
    text = (
        "GET http://svc:url-Secret-0@api.example:8080/v1?page=2 failed; "
        "robot https://qyapi.example/cgi-bin/webhook/send?key=robot-Secret-4&debug=1; "
        "auth pg-Secret-1 / Bearer tok-Secret-2 / p@ss-Secret-3 for postgres in /root; "
        "clone https://ghp-Secret-15@git.example/repo"
    )
    masked = redact(text, env)
    for secret in ("url-Secret-0", "pg-Secret-1", "tok-Secret-2", "p@ss-Secret-3", "robot-Secret-4"):
        assert secret not in masked
    # What an operator needs stays: scheme, host, port, path, ordinary parameters, user names, paths.
    assert "http://svc:***@api.example:8080/v1?page=2" in masked
    assert "send?key=***&debug=1" in masked and "for postgres in /root" in masked
    assert "clone https://***@git.example/repo" in masked  # a lone name before @ may be a token
    assert redact("no credential here: http://api.example/v1", env) == "no credential here: http://api.example/v1"


def test_configured_credential_variables_are_masked_whatever_their_name(monkeypatch) -> None:
    monkeypatch.setenv("HELPDESK_BEARER", "bearer-Secret-5")
    monkeypatch.setenv("OPS_ROBOT", "https://open.example/hook/path-Secret-6")
    assert "bearer-Secret-5" in redact("token bearer-Secret-5")  # not a credential until configured
    from orchestration.sources.config import Connection, SourceConfig

    SourceConfig(
        name="helpdesk_api", kind="http", shape="status_history", time_zone="UTC", timestamp_marks="entry",
        columns={"work_order_id": "id", "status": "s", "event_at": "t", "process": "p"},
        connection=Connection(url_env="HELPDESK_URL", token_env="HELPDESK_BEARER"), endpoint="/x",
    )  # fmt: skip
    Channel(type="webhook", url_env="OPS_ROBOT")
    assert redact("token bearer-Secret-5 to https://open.example/hook/path-Secret-6") == f"token {MASK} to {MASK}"


def test_split_userinfo_moves_credentials_out_of_the_url() -> None:
    assert split_userinfo("http://svc:p%40ss@api:8080/v1?x=1") == ("http://api:8080/v1?x=1", ("svc", "p@ss"))
    assert split_userinfo("http://api:8080/v1") == ("http://api:8080/v1", None)


def test_scrubbed_raises_a_masked_error_without_the_chain() -> None:
    class ReaderError(RuntimeError):
        reason_code = "source_unreachable"

    with pytest.raises(ReaderError) as caught, scrubbed():
        try:
            raise ValueError("GET http://svc:chain-Secret-7@api/v1 failed")
        except ValueError as exc:
            raise ReaderError("reading http://svc:chain-Secret-7@api/v1") from exc
    assert str(caught.value) == "reading http://svc:***@api/v1 (from ValueError: GET http://svc:***@api/v1 failed)"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert caught.value.reason_code == "source_unreachable"
    with pytest.raises(KeyError) as clean, scrubbed():  # nothing to mask: the original, traceback and all
        raise KeyError("plain")
    assert clean.value.args == ("plain",)


# --- alert channels -----------------------------------------------------------------------------------


MESSAGE = Message(keys=("k",), subject="s", body="b")


def test_webhook_failure_masks_its_url(monkeypatch) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("ROBOT_URL", f"http://127.0.0.1:{port}/hook/path-Secret-8?key=key-Secret-9")
    with pytest.raises(DeliveryError) as caught:
        send_webhook(Channel(type="webhook", url_env="ROBOT_URL"), MESSAGE, timeout=2)
    assert "webhook unreachable (ConnectionError" in str(caught.value)
    assert "Secret" not in str(caught.value) and caught.value.__cause__ is None


def test_smtp_failure_masks_the_password(monkeypatch) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_USER", "alerts")
    monkeypatch.setenv("SMTP_PASS", "smtp-Secret-10")
    channel = Channel(type="email", smtp_host_env="SMTP_HOST", smtp_port_env="SMTP_PORT", username_env="SMTP_USER",
                      password_env="SMTP_PASS", sender="a@example.org", recipients=["b@example.org"])  # fmt: skip
    with pytest.raises(DeliveryError) as caught:
        send_email(channel, MESSAGE, timeout=2)
    assert f"SMTP 127.0.0.1:{port}" in str(caught.value) and "smtp-Secret-10" not in str(caught.value)


# --- a pipeline with every credential planted ---------------------------------------------------------

START = dt.date(2026, 10, 1)
NOW = dt.datetime(2026, 10, 8, 6, 0, tzinfo=dt.UTC)
FIRST, LAST = dt.date(2026, 10, 3), dt.date(2026, 10, 4)


class _Refusing(BaseHTTPRequestHandler):
    """An API that refuses every request (HTTP 401) and records what authorised it."""

    seen: list[str | None] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


@pytest.fixture
def refusing_api() -> Iterator[tuple[str, list]]:
    seen: list[str | None] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Refusing", (_Refusing,), {"seen": seen}))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A database that accepts TCP and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


def _declare(data_dir: Path, phase: str, name: str, monkeypatch: pytest.MonkeyPatch, **changes) -> None:
    """Point the pipeline at a sources directory of its own holding one project declaration, changed."""
    folder = data_dir / f"sources_{phase}"
    folder.mkdir()
    cfg = yaml.safe_load((CONFIG_DIR / "sources" / f"{name}.yaml").read_text(encoding="utf-8"))
    cfg.update(changes)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    monkeypatch.setenv("COMMITMENTS_SOURCES_DIR", str(folder))


def _plant(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A distinct secret in every credential variable the pipeline, its sources and its alerts read."""
    secrets = {name: f"{name.lower().replace('_', '-')}-{uuid.uuid4().hex[:12]}" for name in (
        "TICKET_API_URL", "TICKET_API_TOKEN", "OA_DB_URL", "PGPASSWORD", "ALERT_SMTP_PASSWORD",
        "BROADBAND_ROBOT_WEBHOOK_URL", "DAGSTER_PG_URL")}  # fmt: skip
    monkeypatch.setenv("TICKET_API_TOKEN", secrets["TICKET_API_TOKEN"])
    monkeypatch.setenv("PGPASSWORD", secrets["PGPASSWORD"])  # the test server trusts local users: unused
    monkeypatch.setenv("ALERT_SMTP_PASSWORD", secrets["ALERT_SMTP_PASSWORD"])
    monkeypatch.setenv(
        "BROADBAND_ROBOT_WEBHOOK_URL", f"https://robot.example/send?key={secrets['BROADBAND_ROBOT_WEBHOOK_URL']}"
    )
    monkeypatch.setenv("DAGSTER_PG_URL", f"postgresql://dagster:{secrets['DAGSTER_PG_URL']}@127.0.0.1/dagster")
    return secrets


def _artefacts(root: Path) -> dict[str, bytes]:
    """Every file a run left: Dagster's storage and compute logs (DAGSTER_HOME) and anything else in the data
    dir, the DuckDB warehouse (its slot, tests/conftest.py), and dbt's logs, run results and manifests."""
    files = [p for p in root.rglob("*") if p.is_file()]
    files += [p for p in Path(os.environ["WAREHOUSE_DUCKDB_PATH"]).parent.iterdir() if p.is_file()]
    files += [p for p in (PROJECT_DIR / "dbt_project" / "logs").rglob("*") if p.is_file()]
    files += [p for p in (PROJECT_DIR / "dbt_project" / "target").rglob("*.json") if p.is_file()]
    return {str(p): p.read_bytes() for p in files}


def _warehouse_text() -> str:
    tables = ["quarantine", "extraction_log", "quality_summary", "status_events"]
    return "\n".join(query(f"select * from {{s}}_landing.{t}").to_csv() for t in tables)


def _step_failures(instance) -> list[str]:
    from dagster import DagsterEventType, EventRecordsFilter

    records = instance.get_event_records(EventRecordsFilter(event_type=DagsterEventType.STEP_FAILURE))
    return [r.event_log_entry.dagster_event.event_specific_data.error.to_string() for r in records]


def test_no_credential_in_any_artefact_of_a_failed_and_a_succeeded_run(
    pipeline_env: Path, refusing_api, silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance

    from orchestration.definitions import build_defs
    from orchestration.periods import PeriodRange
    from orchestration.runner import run_job, run_periods

    secrets = _plant(monkeypatch)
    limits = {"connect_timeout": "2s", "read_timeout": "2s", "retries": 0}
    periods, days = PeriodRange(FIRST, LAST), (FIRST.isoformat(), LAST.isoformat())
    home = pipeline_env / "dagster_home"
    errors: list[str] = []

    # 1. The ticket API refuses the request (HTTP 401): the daily run fails at that source.
    refusing, seen = refusing_api
    monkeypatch.setenv("TICKET_API_URL", f"http://svc:{secrets['TICKET_API_URL']}@{refusing}")
    _declare(pipeline_env, "refused", "ticket_api", monkeypatch, limits=limits)
    with DagsterInstance.from_config(str(home)) as instance, pytest.raises(Exception) as caught:
        run_periods(build_defs(), instance, periods)
    errors.append(str(caught.value))
    assert seen == [f"Bearer {secrets['TICKET_API_TOKEN']}"]  # the planted token was in use
    # Named: the source, the page, the address (the credentials travel as a header, not in it), the answer.
    api_error = f"source ticket_api: page 1 of http://{refusing}/api/v1/status-changes: the server answered HTTP 401"
    assert api_error in errors[-1]

    # 2. The OA database accepts TCP and never answers: the daily run fails at that source.
    monkeypatch.setenv("OA_DB_URL", f"postgresql+psycopg2://oa:{secrets['OA_DB_URL']}@127.0.0.1:{silent_port}/oa")
    _declare(pipeline_env, "silent", "oa_workflow", monkeypatch, limits=limits)
    with DagsterInstance.from_config(str(home)) as instance, pytest.raises(Exception) as caught:
        run_job(build_defs(), "daily_job", instance, *days)
    errors.append(str(caught.value))
    db_error = f"source oa_workflow: cannot connect on postgresql+psycopg2://oa:***@127.0.0.1:{silent_port}/oa"
    assert db_error in errors[-1] and "limits.connect_timeout = 2s" in errors[-1]

    # 3. The ticket API serves: the same days succeed, through the marts.
    store = pipeline_env / "ticket_events.jsonl"
    gen.write_ticket_store(gen.generate_truth(START, NOW, 6), store)
    server, url = serve_in_background(store, token=secrets["TICKET_API_TOKEN"])
    try:
        monkeypatch.setenv("TICKET_API_URL", url.replace("http://", f"http://svc:{secrets['TICKET_API_URL']}@"))
        _declare(pipeline_env, "serving", "ticket_api", monkeypatch, limits=limits)
        with DagsterInstance.from_config(str(home)) as instance:
            run_job(build_defs(), "daily_job", instance, *days)  # raises if it fails
            failures = _step_failures(instance)
    finally:
        server.shutdown()
    # The tests' own reads outside Dagster cannot resolve the warehouse password as an EnvVar; the test
    # server trusts local connections, so they go without it.
    monkeypatch.delenv("PGPASSWORD")
    assert query("select count(*) as n from {s}_landing.status_events").n.iloc[0] > 0
    # The event log holds both failures, with the source and its address.
    assert len(failures) == 2 and sum(api_error in f for f in failures) == sum(db_error in f for f in failures) == 1

    artefacts = _artefacts(pipeline_env)
    assert any(p.endswith(".db") for p in artefacts) and any("compute_logs" in p for p in artefacts)
    everything = [*artefacts.items(), ("warehouse tables", _warehouse_text().encode()),
                  ("errors raised", "\n".join(errors + failures).encode())]  # fmt: skip
    for name, secret in secrets.items():
        leaks = [where for where, content in everything if secret.encode() in content]
        assert not leaks, f"{name}'s secret is stored in {leaks}"
    # The masked messages reached the stores: the search above looked where they are kept.
    for error in (api_error, db_error):
        assert any(error.encode() in content for content in artefacts.values()), error


def test_only_credential_variables_are_masked() -> None:
    env = {"TOKENIZERS_PARALLELISM": "false", "PWD": "/work/project", "MYSQL_PWD": "my-Secret-11",
           "AWS_SECRET_ACCESS_KEY": "aws-Secret-12", "PGPASSWORD": "pg-Secret-13",
           "SMTP_PASS": "smtp-Secret-14"}  # fmt: skip
    masked = redact("false in /work/project; my-Secret-11 aws-Secret-12 pg-Secret-13 smtp-Secret-14", env)
    assert masked == "false in /work/project; *** *** *** ***"
