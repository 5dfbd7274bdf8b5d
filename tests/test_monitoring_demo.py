"""The schedule's evaluation (monitoring_job) against the demo source systems while the generator moves
time on between evaluations, on DuckDB and PostgreSQL: the second evaluation lands only what changed,
the base table then equals the generator's truth, the open runs judged are exactly the truth's open
runs, and every alert reaches the webhook once and is over the limit it names."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from demo.receiver import WebhookReceiver
from tests.conftest import (
    assert_base_table_equals_truth,
    deployed_instance,
    isolated_pipeline,
    publish_reference,
    query,
    use_source,
)

START = date(2026, 3, 30)
FIRST_EVALUATION = datetime(2026, 4, 2, 6, 0, tzinfo=UTC)
SECOND_EVALUATION = FIRST_EVALUATION + timedelta(hours=6)
ORDERS_PER_DAY = 40


@pytest.fixture(scope="module")
def demo_live(tmp_path_factory: pytest.TempPathFactory, warehouse_target: str) -> Iterator[dict]:

    from demo.monitoring import WEBHOOK_ENV, advance_sources, run_evaluation, write_demo_alerts
    from demo.ticket_api_server import serve_in_background
    from orchestration.definitions import build_defs

    root = tmp_path_factory.mktemp("demo_live")
    hook = WebhookReceiver().start()
    out: dict = {"hook": hook}
    with isolated_pipeline(root, warehouse_target), pytest.MonkeyPatch.context() as mp:
        for name in ("oa_workflow", "settlement_files", "ticket_api"):
            use_source(root, name)
        mp.setenv("ALERTS_FILE", str(write_demo_alerts(root / "alerts.yaml", history_days=3)))
        mp.setenv(WEBHOOK_ENV, hook.url)
        mp.setenv("OA_DB_URL", f"sqlite:///{root / 'sources' / 'oa_workflow.sqlite'}")
        advance_sources(root, START, FIRST_EVALUATION, ORDERS_PER_DAY, seed=5)
        server, url = serve_in_background(root / "sources" / "ticket_events.jsonl")
        mp.setenv("TICKET_API_URL", url)
        try:
            publish_reference()
            with deployed_instance() as instance:
                defs = build_defs()
                run_evaluation(defs, instance, FIRST_EVALUATION)
                out["first_cursors"] = query("select * from {s}_landing.source_cursors")
                out["first_outbox"] = query("select * from {s}_landing.alert_outbox")
                # The generator moves on: new orders, status changes, finished runs, a new day's drop.
                out["truth"] = advance_sources(root, START, SECOND_EVALUATION, ORDERS_PER_DAY, seed=5)
                run_evaluation(defs, instance, SECOND_EVALUATION)
            out["second_cursors"] = query("select * from {s}_landing.source_cursors")
            out["base"] = query("select * from {s}.fct_node_runs")
            out["open"] = query("select * from {s}.open_run_states")
            out["outbox"] = query("select * from {s}_landing.alert_outbox")
        finally:
            server.shutdown()
            hook.stop()
    yield out


def test_each_evaluation_lands_only_what_changed_since_the_cursor(demo_live: dict) -> None:
    first = demo_live["first_cursors"].set_index("source_system")
    second = demo_live["second_cursors"].set_index("source_system")
    assert set(second.index) == {"oa_workflow", "settlement_files", "ticket_api"}
    for source in ("oa_workflow", "ticket_api"):
        assert pd.Timestamp(second.cursor_at[source]) == pd.Timestamp(SECOND_EVALUATION).tz_convert(None)
        assert 0 < second.rows_received[source] < first.rows_received[source]
    assert (second.rows_quarantined == 0).all()


def test_base_table_equals_the_truth_after_incremental_evaluations(demo_live: dict) -> None:
    assert_base_table_equals_truth(demo_live["base"], demo_live["truth"], as_of=SECOND_EVALUATION)


def test_open_runs_judged_are_the_truths_open_runs(demo_live: dict) -> None:
    truth = demo_live["truth"]
    now = pd.Timestamp(SECOND_EVALUATION)  # open at now: started before it, neither ended nor cancelled before it
    open_ = truth[(truth.start_at < now) & ~(truth.end_at < now) & ~(truth.cancelled_at < now)]
    key = ["work_order_id", "node_code", "visit"]
    want = sorted(open_[key].astype({"work_order_id": str, "node_code": str, "visit": int}).itertuples(index=False))
    got = demo_live["open"]
    assert sorted(got[key].astype({"visit": int}).itertuples(index=False)) == want
    assert len(want) > 20 and {"normal", "acceptable"} <= set(got.band.dropna())


def test_alerts_arrive_once_each_and_are_over_their_limits(demo_live: dict) -> None:
    outbox = demo_live["outbox"]
    received = demo_live["hook"].delivery_keys()
    sent = outbox[outbox.channel == "demo_webhook"]
    assert len(received) == len(set(received)) and set(received) == set(sent.delivery_key)
    assert (sent.status == "delivered").all() and len(sent) > len(demo_live["first_outbox"]) > 0
    over = outbox[outbox.level != "notice"]
    assert (over.run_seconds > over.limit_seconds).all()
    notice = outbox[outbox.level == "notice"]
    assert ((notice.run_seconds >= 0.8 * notice.limit_seconds) & (notice.run_seconds <= notice.limit_seconds)).all()
    # a run still open in warning at the second evaluation has had its warning raised
    warned = set(outbox[outbox.level == "warning"].node_run_id)
    still = demo_live["open"]
    assert set(still[still.band == "warning"].node_run_id) <= warned
