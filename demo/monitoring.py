"""The live-monitoring demo: alerts arrive at a local webhook receiver as the generator advances time.

    commitments monitoring-demo [--steps 4] [--step-minutes 60] [--days 3] [--orders-per-day 60]
                                            [--data-dir data/monitoring_demo] [--port 8766]

It generates the three demo source systems as seen `steps x step-minutes` ago, publishes the reference
tables, then runs the monitoring job (the one the 15-minute schedule runs) once per step, regenerating
the sources a step later each time: new tickets, OA tasks and settlement drops appear and runs finish.
Each evaluation lands only what changed since the sources' cursors, judges the open runs in dbt and
delivers new alerts to the webhook receiver, which prints them. Runs are recorded in the Dagster instance
(DAGSTER_HOME), so `make dev` shows them and the links in the messages lead there.
Warehouse: as everywhere (WAREHOUSE_TARGET; DuckDB file data_dir/warehouse.duckdb by default).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import yaml

from orchestration.settings import PROJECT_DIR, Settings

WEBHOOK_ENV = "DEMO_ALERT_WEBHOOK_URL"


def write_demo_alerts(path: Path, history_days: int) -> Path:
    """The shipped alerts.yaml (rules, templates) with every department routed to one local webhook."""
    config = yaml.safe_load(Settings.load().alerts_file.read_text(encoding="utf-8"))
    config["evaluation"].update(initial_lookback=f"{history_days + 1}d", file_lookback_days=history_days + 2)
    config["channels"] = {
        "demo_webhook": {"type": "webhook", "url_env": WEBHOOK_ENV, "payload": "generic", "language": "zh"},
        "operations_log": {"type": "log", "language": "zh"},
    }
    config["routes"] = [{"department": "*", "channels": ["demo_webhook"]}]
    config["default"] = ["operations_log"]
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def advance_sources(data_dir: Path, start: date, now: datetime, orders_per_day: int, seed: int) -> pd.DataFrame:
    """The three demo systems as seen at `now` (a later `now` only adds to what they showed before)."""
    from demo.generator import generate_truth, write_sources

    truth = generate_truth(start, now, orders_per_day, seed=seed)
    write_sources(truth, data_dir, now, start=start)
    return truth


def run_evaluation(defs, instance, as_of: datetime) -> str:
    """One run of the monitoring job, evaluated at `as_of`; returns the Dagster run id."""
    config = {"ops": {"land_changes": {"config": {"as_of": as_of.isoformat()}}}}
    result = defs.resolve_job_def("monitoring_job").execute_in_process(instance=instance, run_config=config)
    if not result.success:
        raise RuntimeError(f"monitoring_job failed at {as_of}")
    return result.run_id


def run(
    steps: int = 4, step_minutes: int = 60, days: int = 3, orders_per_day: int = 60, seed: int = 7,
    data_dir: Path = PROJECT_DIR / "data" / "monitoring_demo", port: int = 8766,
) -> None:  # fmt: skip
    """What `commitments monitoring-demo` runs (its options' help is in commitments_cli/app.py)."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["COMMITMENTS_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("WAREHOUSE_DUCKDB_PATH", str(data_dir / "warehouse.duckdb"))
    os.environ["OA_DB_URL"] = f"sqlite:///{data_dir / 'sources' / 'oa_workflow.sqlite'}"

    from benchmarks.pipeline import use_demo_sources
    from demo.main import dagster_instance
    from demo.receiver import WebhookReceiver
    from demo.ticket_api_server import serve_in_background
    from orchestration.definitions import build_defs
    from orchestration.runner import run_job
    from orchestration.warehouse import Warehouse

    use_demo_sources(data_dir)
    os.environ["ALERTS_FILE"] = str(write_demo_alerts(data_dir / "alerts.yaml", days))
    receiver = WebhookReceiver(port=port, echo=True).start()
    os.environ[WEBHOOK_ENV] = receiver.url
    step = timedelta(minutes=step_minutes)
    first = datetime.now(UTC).replace(microsecond=0) - steps * step
    start = (first.astimezone(Settings.load().business_time_zone) - timedelta(days=days)).date()
    advance_sources(data_dir, start, first, orders_per_day, seed)
    (data_dir / "sources" / "ticket_events.jsonl").touch()
    server, os.environ["TICKET_API_URL"] = serve_in_background(data_dir / "sources" / "ticket_events.jsonl")
    print(f"webhook receiver on {receiver.url}; demo sources in {data_dir}", flush=True)
    try:
        defs, instance = build_defs(), dagster_instance()
        run_job(defs, "reference_job", instance)
        warehouse = Warehouse.from_settings(Settings.load())
        outbox = f"{warehouse.landing_schema}.alert_outbox"
        for k in range(steps + 1):
            as_of = first + k * step
            if k:
                advance_sources(data_dir, start, as_of, orders_per_day, seed)
            before = len(receiver.received)
            run_id = run_evaluation(defs, instance, as_of)
            counts = warehouse.query(f"select status, count(*) as n from {outbox} group by status order by status")
            print(
                f"=== evaluation at {as_of:%Y-%m-%d %H:%M} UTC (run {run_id[:8]}): "
                f"{len(receiver.received) - before} messages received; outbox "
                + ", ".join(f"{r.status} {r.n}" for r in counts.itertuples()),
                flush=True,
            )
    finally:
        server.shutdown()
        receiver.stop()


def main(argv: list[str] | None = None) -> None:
    """`python -m demo.monitoring [options]` is `commitments monitoring-demo [options]`."""
    from commitments_cli.app import app

    app(["monitoring-demo", *(sys.argv[1:] if argv is None else argv)], prog_name="commitments")


if __name__ == "__main__":
    main()
