"""Live monitoring end to end, on DuckDB and PostgreSQL: an OA database (SQLite) whose tasks change
between evaluations, the monitoring steps and dbt, a real webhook receiver, a real SMTP server with
STARTTLS and login (aiosmtpd), and the log channel.

The clock only moves forward through the module (cursors follow it), so every test adds its own work
orders and looks at its own alerts. BROADBAND ACCEPT: commitment 30min, tolerance 2h (early notice at
80% = 24min); DISPATCH for VIP 1h/2h; the owner of BROADBAND is 家庭客户部.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http import HTTPStatus
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa

from demo.receiver import WebhookReceiver
from tests.conftest import (
    PROJECT_DIR,
    isolated_pipeline,
    publish_reference,
    query,
    settings_of_env,
    use_source,
    warehouse_of_env,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # the module's clock starts here (10:00 in Shanghai)

ALERTS = """\
evaluation: {cron: "*/15 * * * *", cursor_overlap: 5min, initial_lookback: 1d, file_lookback_days: 2}
delivery: {max_attempts: 3, backoff_initial: 1min, backoff_max: 10min, claim_timeout: 5min, timeout: 3s}
rules:
  - {process: "*", early_notice: 0.8, escalate: true}
channels:
  counter_hook: {type: webhook, url_env: T_COUNTER_HOOK, language: zh}
  dispatch_hook: {type: webhook, url_env: T_DEAD_HOOK, language: en}
  owner_mail:
    type: email
    language: en
    digest: true
    smtp_host_env: T_SMTP_HOST
    smtp_port_env: T_SMTP_PORT
    username_env: T_SMTP_USER
    password_env: T_SMTP_PASSWORD
    ca_file_env: T_SMTP_CA
    sender: monitor@example.com
    recipients: [home@example.com]
  audit_log: {type: log, path_env: T_ALERT_LOG, language: en}
routes:
  - {department: "*", channels: [audit_log]}
  - {department: 营业厅, position: 营业员, channels: [counter_hook]}
  - {department: 调度中心, channels: [dispatch_hook]}
  - {department: 家庭客户部, channels: [owner_mail]}
default: [audit_log]
templates:
"""


def templates_yaml() -> str:
    import yaml

    shipped = yaml.safe_load((PROJECT_DIR / "config" / "alerts.yaml").read_text(encoding="utf-8"))["templates"]
    return yaml.safe_dump(shipped, allow_unicode=True, default_flow_style=False)


# --------------------------------------------------------------------------------------------------
# A real SMTP server with STARTTLS and AUTH on loopback
# --------------------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    messages: list = field(default_factory=list)
    logins: list = field(default_factory=list)


def start_smtp(tmp: Path, box: Mailbox):
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = tmp / "smtp.pem", tmp / "smtp.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            box.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
            return "250 OK"

    def authenticate(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"monitor", b"s3cret")
        box.logins.append(ok)
        return AuthResult(success=ok)

    with socket.socket() as probe:  # aiosmtpd checks readiness by connecting: it needs a real port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(
        Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticate, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    return controller, cert, port


# --------------------------------------------------------------------------------------------------
# The OA source: tasks written as the OA system would show them at a given instant
# --------------------------------------------------------------------------------------------------

STEPS = {"ACCEPT": ("受理", "营业厅", "营业员"), "DISPATCH": ("派单", "调度中心", "调度员")}
LEVELS = {"公众": "GZ", "VIP": "VIP"}


@dataclass
class Task:
    order: str
    node: str
    start: datetime
    end: datetime | None = None
    cancel: datetime | None = None
    segment: str = "公众"
    added: datetime | None = None  # when the OA system first showed it (a task added late is updated then)


class Live:
    """The module's world: tasks, clock, receivers, and the monitoring steps."""

    def __init__(self, root: Path):
        self.root = root
        self.tasks: list[Task] = []
        self.now = T0
        self.engine = sa.create_engine(f"sqlite:///{root / 'oa.sqlite'}")

    def add(self, *tasks: Task) -> None:
        for task in tasks:
            task.added = self.now - timedelta(seconds=1)
        self.tasks.extend(tasks)

    def publish(self) -> None:
        """Write wf_task as the OA system shows it now: nothing starts or ends in the future."""
        from demo.generator import write_oa_table

        def local(moment: datetime | None) -> datetime | None:
            if moment is None or moment > self.now:
                return None
            return moment.astimezone(SHANGHAI).replace(tzinfo=None)

        rows = []
        for i, t in enumerate(self.tasks):
            if t.start > self.now:
                continue
            name, dept, post = STEPS[t.node]
            times = [local(t.start), local(t.end), local(t.cancel)]
            rows.append({
                "task_id": i + 1, "flow_no": t.order, "flow_type": "KDZJ", "step_name": name, "dept_name": dept,
                "post_name": post, "cust_level": LEVELS[t.segment], "begin_time": times[0], "end_time": times[1],
                "cancel_time": times[2], "update_time": max(x for x in [*times, local(t.added)] if x is not None),
            })  # fmt: skip
        frame = pd.DataFrame(rows)
        for column in ("begin_time", "end_time", "cancel_time", "update_time"):
            frame[column] = pd.to_datetime(frame[column])

        write_oa_table(self.engine, frame)

    def evaluate(self, minutes: float = 0):
        from orchestration.monitoring.evaluate import evaluate

        self.now += timedelta(minutes=minutes)
        self.publish()
        result = evaluate(
            warehouse_of_env(), settings_of_env(), now=self.now, dagster_run_id="run-" + self.now.strftime("%H%M")
        )
        return result

    def deliver(self, minutes: float = 0):
        from orchestration.monitoring import outbox
        from orchestration.monitoring.config import load_alert_config

        self.now += timedelta(minutes=minutes)
        return outbox.deliver(warehouse_of_env(), load_alert_config(settings_of_env()), self.now)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, warehouse_target: str) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("live")
    box = Mailbox()
    hook = WebhookReceiver().start()
    smtp, cert, smtp_port = start_smtp(root, box)
    with isolated_pipeline(root, warehouse_target), pytest.MonkeyPatch.context() as mp:
        use_source(root, "oa_workflow")
        (root / "alerts.yaml").write_text(ALERTS + "  " + templates_yaml().replace("\n", "\n  "), encoding="utf-8")
        env = {
            "OA_DB_URL": f"sqlite:///{root / 'oa.sqlite'}", "ALERTS_FILE": str(root / "alerts.yaml"),
            "T_COUNTER_HOOK": hook.url, "T_DEAD_HOOK": "http://127.0.0.1:9/closed",
            "T_SMTP_HOST": "127.0.0.1", "T_SMTP_PORT": str(smtp_port),
            "T_SMTP_USER": "monitor", "T_SMTP_PASSWORD": "s3cret", "T_SMTP_CA": str(cert),
            "T_ALERT_LOG": str(root / "alerts.log"), "DAGSTER_UI_URL": "http://dagster.example:3000",
        }  # fmt: skip
        for k, v in env.items():
            mp.setenv(k, v)
        world = Live(root)
        world.hook, world.box = hook, box  # type: ignore[attr-defined]
        publish_reference()
        try:
            yield world
        finally:
            hook.stop()
            smtp.stop()


def outbox_rows(prefix: str, channel: str | None = None) -> pd.DataFrame:
    rows = query(f"select * from {{s}}_landing.alert_outbox where work_order_id like '{prefix}%'")
    return rows if channel is None else rows[rows.channel == channel].reset_index(drop=True)


def hook_keys(live: Live, prefix: str) -> list[str]:
    return [k for k in live.hook.delivery_keys() if k.split("|")[0] in set(outbox_rows(prefix).node_run_id)]


def levels_sent(live: Live, prefix: str) -> dict[tuple[str, str], int]:
    """(work order, level) -> deliveries received by the webhook."""
    rows = outbox_rows(prefix).set_index("delivery_key")
    got: dict[tuple[str, str], int] = {}
    for key in live.hook.delivery_keys():
        if key in rows.index:
            pair = (rows.work_order_id[key], rows.level[key])
            got[pair] = got.get(pair, 0) + 1
    return got


# --------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------


def test_bands_notice_and_escalation_each_exactly_once(live: Live) -> None:
    t = live.now
    live.add(
        Task("B-NOTICE", "ACCEPT", t - timedelta(minutes=25), end=t + timedelta(minutes=12)),
        Task("B-OVER", "ACCEPT", t - timedelta(minutes=40)),
        Task("B-WARN", "ACCEPT", t - timedelta(hours=2, minutes=10)),
        Task("B-QUIET", "ACCEPT", t - timedelta(minutes=10)),
        Task("B-DONE", "ACCEPT", t - timedelta(hours=3), end=t - timedelta(hours=1)),
        Task("B-VOID", "ACCEPT", t - timedelta(hours=3), cancel=t - timedelta(minutes=5)),
        Task("B-VIP", "DISPATCH", t - timedelta(minutes=65), segment="VIP"),
    )
    first = live.evaluate()
    assert levels_sent(live, "B-") == {("B-NOTICE", "notice"): 1, ("B-OVER", "acceptable"): 1, ("B-WARN", "warning"): 1}
    rows = outbox_rows("B-").query("channel != 'audit_log'")
    # the escalation of the warning went to the process owner by e-mail; VIP DISPATCH (1h) is over its limit
    assert set(zip(rows.work_order_id, rows.level, rows.recipient_kind, rows.channel, strict=True)) == {
        ("B-NOTICE", "notice", "responsible", "counter_hook"),
        ("B-OVER", "acceptable", "responsible", "counter_hook"),
        ("B-WARN", "warning", "responsible", "counter_hook"),
        ("B-WARN", "warning", "owner", "owner_mail"),
        ("B-VIP", "acceptable", "responsible", "dispatch_hook"),
    }
    assert first.recorded == 5 + 4  # and every alert once to the audit log

    # Ten minutes on: the early-noticed run is now over its commitment; nothing else is new.
    second = live.evaluate(minutes=10)
    assert levels_sent(live, "B-") == {
        ("B-NOTICE", "notice"): 1, ("B-NOTICE", "acceptable"): 1, ("B-OVER", "acceptable"): 1, ("B-WARN", "warning"): 1,
    }  # fmt: skip
    assert second.recorded == 2

    # Two hours on: B-NOTICE completed meanwhile (raises nothing more); the others crossed the tolerance.
    live.evaluate(minutes=110)
    repeat = live.evaluate()  # the same instant again: nothing new, nothing resent
    assert repeat.recorded == 0 and repeat.delivery.delivered == 0
    assert levels_sent(live, "B-") == {
        ("B-NOTICE", "notice"): 1, ("B-NOTICE", "acceptable"): 1, ("B-OVER", "acceptable"): 1,
        ("B-OVER", "warning"): 1, ("B-WARN", "warning"): 1, ("B-QUIET", "warning"): 1,
    }  # fmt: skip
    assert not outbox_rows("B-DONE").shape[0] and not outbox_rows("B-VOID").shape[0]

    # E-mail: STARTTLS + login; one digest per evaluation for the owning department.
    mails = [m for m in live.box.messages if "B-" in m.get_body().get_content()]
    assert all(live.box.logins) and len(mails) == 2
    assert "家庭客户部: 1 alert" in mails[0]["Subject"] and "家庭客户部: 3 alert" in mails[1]["Subject"]
    body = mails[1].get_body().get_content()
    assert all(order in body for order in ("B-OVER", "B-QUIET", "B-VIP")) and "tolerance limit 2h" in body


def test_message_names_order_process_node_segment_run_time_limit_and_link(live: Live) -> None:
    sent = [b for b in live.hook.received if b["alerts"] and b["alerts"][0]["work_order_id"] == "B-OVER"]
    first = sent[0]  # acceptable, in Chinese
    text = first["text"]
    for part in ("B-OVER", "宽带装机", "受理", "公众", "营业厅", "已运行：40分钟", "承诺时限：30分钟",
                 "http://dagster.example:3000/runs/run-0200"):  # fmt: skip
        assert part in text, (part, text)
    assert first["_idempotency_header"] == first["idempotency_key"] == first["alerts"][0]["delivery_key"]


def test_dead_channel_is_retried_with_backoff_then_dead(live: Live) -> None:
    rows = outbox_rows("B-VIP").query("channel == 'dispatch_hook' and level == 'acceptable'")
    assert list(rows.status) == ["dead"] and int(rows.attempts.iloc[0]) == 3
    assert "unreachable" in rows.last_error.iloc[0] and "9/closed" not in rows.last_error.iloc[0]


def test_webhook_down_for_a_while_then_recovers(live: Live) -> None:
    live.add(Task("R-LATE", "ACCEPT", live.now - timedelta(minutes=45)))
    live.hook.failing = HTTPStatus.SERVICE_UNAVAILABLE
    try:
        live.evaluate(minutes=1)
        row = outbox_rows("R-", "counter_hook").iloc[0]
        assert (row.status, int(row.attempts), row.last_error) == ("pending", 1, "webhook answered HTTP 503")
        assert live.deliver(minutes=0.5).delivered == 0  # backoff: not due yet
        assert int(outbox_rows("R-", "counter_hook").attempts.iloc[0]) == 1
        live.deliver(minutes=1)  # second attempt, still down
        assert int(outbox_rows("R-", "counter_hook").attempts.iloc[0]) == 2
    finally:
        live.hook.failing = None
    assert live.deliver(minutes=1).delivered == 0  # backoff doubled to 2 minutes
    assert live.deliver(minutes=1.5).delivered == 1
    assert live.deliver(minutes=30).delivered == 0
    assert levels_sent(live, "R-") == {("R-LATE", "acceptable"): 1}
    assert set(outbox_rows("R-").status) == {"delivered"}


def test_killed_between_recording_and_sending_delivers_once_on_restart(live: Live) -> None:
    from orchestration.monitoring.config import load_alert_config
    from orchestration.monitoring.evaluate import build_current_state, land_increments

    live.add(
        Task("K-1", "ACCEPT", live.now - timedelta(minutes=50)), Task("K-2", "ACCEPT", live.now - timedelta(hours=3))
    )
    live.now += timedelta(minutes=1)
    live.publish()
    began, _ = land_increments(warehouse_of_env(), settings_of_env(), live.now, load_alert_config(settings_of_env()))
    build_current_state(warehouse_of_env(), began, live.now)
    script = (
        "import os, signal, sys\n"
        "from datetime import datetime\n"
        "from orchestration.monitoring import outbox\n"
        "from orchestration.monitoring.config import load_alert_config\n"
        "from orchestration.settings import Settings\n"
        "from orchestration.warehouse import Warehouse\n"
        "settings = Settings.load()\n"
        "warehouse = Warehouse.from_settings(settings)\n"
        "n = outbox.record(warehouse, load_alert_config(settings), datetime.fromisoformat(sys.argv[1]), 'killed')\n"
        "print(n, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
        "outbox.deliver(warehouse, load_alert_config(settings), datetime.fromisoformat(sys.argv[1]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, live.now.isoformat()], capture_output=True, text=True,
                          cwd=PROJECT_DIR, env=os.environ.copy())  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert int(done.stdout.split()[0]) >= 3  # K-1 acceptable, K-2 warning (+ escalation)
    assert set(outbox_rows("K-").status) == {"pending"} and not hook_keys(live, "K-")
    live.evaluate()  # the restart
    live.evaluate(minutes=1)
    assert levels_sent(live, "K-") == {("K-1", "acceptable"): 1, ("K-2", "warning"): 1}
    assert set(outbox_rows("K-").status) == {"delivered"}


def test_a_sender_killed_after_claiming_is_taken_over_once(live: Live) -> None:
    from orchestration.monitoring import outbox
    from orchestration.monitoring.config import load_alert_config

    live.add(Task("S-1", "ACCEPT", live.now - timedelta(minutes=31)))
    live.hook.failing = HTTPStatus.BAD_GATEWAY
    try:
        live.evaluate(minutes=1)  # recorded, first attempt failed
    finally:
        live.hook.failing = None
    live.now += timedelta(minutes=5)
    token, claimed = outbox.claim(
        warehouse_of_env(), load_alert_config(settings_of_env()), live.now
    )  # ... and then it dies
    assert "S-1" in set(claimed.work_order_id)
    assert live.deliver(minutes=1).delivered == 0  # the claim is young: nobody else sends it
    assert live.deliver(minutes=5).delivered >= 1  # stale: taken over
    assert live.deliver(minutes=30).delivered == 0
    assert levels_sent(live, "S-") == {("S-1", "acceptable"): 1}


def test_two_evaluations_at_once_send_each_alert_once(live: Live) -> None:
    from orchestration.monitoring import outbox
    from orchestration.monitoring.config import load_alert_config
    from orchestration.monitoring.evaluate import build_current_state, land_increments

    live.add(*(Task(f"C-{i}", "ACCEPT", live.now - timedelta(minutes=35 + i)) for i in range(6)))
    live.now += timedelta(minutes=1)
    live.publish()
    began, _ = land_increments(warehouse_of_env(), settings_of_env(), live.now, load_alert_config(settings_of_env()))
    build_current_state(warehouse_of_env(), began, live.now)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def evaluation() -> None:
        try:
            barrier.wait()
            outbox.record(warehouse_of_env(), load_alert_config(settings_of_env()), live.now, "concurrent")
            outbox.deliver(warehouse_of_env(), load_alert_config(settings_of_env()), live.now)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=evaluation) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    live.deliver(minutes=10)  # whatever one of them left behind
    assert levels_sent(live, "C-") == {(f"C-{i}", "acceptable"): 1 for i in range(6)}


def test_log_channel_gets_every_alert_once(live: Live) -> None:
    lines = [json.loads(x) for x in (live.root / "alerts.log").read_text(encoding="utf-8").splitlines()]
    logged = [a["alert_key"] for line in lines for a in line["alerts"]]
    recorded = query("select alert_key from {s}_landing.alert_outbox where channel = 'audit_log'")
    assert sorted(logged) == sorted(recorded.alert_key) and len(logged) == len(set(logged)) > 10


def test_changes_landed_by_an_evaluation_that_died_before_dbt_are_built_by_the_next(live: Live) -> None:
    from orchestration.monitoring.config import load_alert_config
    from orchestration.monitoring.evaluate import land_increments

    live.now += timedelta(minutes=20)
    late = Task("F-1", "ACCEPT", live.now - timedelta(minutes=50))
    live.add(late)
    late.added = live.now - timedelta(minutes=10)
    live.publish()
    land_increments(
        warehouse_of_env(), settings_of_env(), live.now, load_alert_config(settings_of_env())
    )  # ... and the run dies here
    live.evaluate(minutes=20)  # reads only from its cursor (minus the overlap): F-1 is not read again
    assert levels_sent(live, "F-") == {("F-1", "acceptable"): 1}
