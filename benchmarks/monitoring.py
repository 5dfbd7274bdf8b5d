"""Benchmark of the live evaluation: one evaluation over about N historical node runs.

    commitments benchmark monitoring [--runs 1000000] [--days 60] [--warehouse duckdb|postgres]
        [--evaluations 3] [--data-dir DIR] [--output BENCHMARKS.md | --no-write]

It generates the three demo systems with about N node runs over `days` days, lands the closed days and
builds fct_node_runs as the daily job leaves them, then runs the evaluation (the steps of the monitoring
job: land the changes since the cursors, dbt current state, record, deliver to a local webhook, digest
per department) at `now`, and again after each further 15 minutes of simulated time, the generator writing
the systems as they are then. The first evaluation lands the day so far; the later ones are the steady
state every 15 minutes. Source generation between evaluations is not timed.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestration.settings import PROJECT_DIR, Settings


def _prepare_alerts(root: Path, days: int) -> None:
    from demo.monitoring import write_demo_alerts

    path = write_demo_alerts(root / "alerts.yaml", days)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["channels"]["demo_webhook"]["digest"] = True  # one message per department and evaluation
    # History comes the daily job's way here: watch the shipped two days of drops, not the whole history.
    shipped = yaml.safe_load(Settings.load().alerts_file.read_text(encoding="utf-8"))["evaluation"]
    config["evaluation"].update(
        file_lookback_days=shipped["file_lookback_days"], initial_lookback=shipped["initial_lookback"]
    )
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    os.environ["ALERTS_FILE"] = str(path)


def _load_history(first: dt.date, last: dt.date) -> dict[str, float]:
    """What the daily job leaves: the closed days landed, reference tables, fct_node_runs built."""
    from orchestration.dbt_project import BASE_MODELS, REFERENCE_EXCLUDE
    from orchestration.dbt_runner import dbt_in_process
    from orchestration.landing.batch import ensure_landing, extract, land
    from orchestration.periods import Window
    from orchestration.reference.catalogue import load_catalogue
    from orchestration.reference.publish import load_reference
    from orchestration.sources.config import load_sources
    from orchestration.warehouse import Warehouse

    warehouse = Warehouse.from_settings(Settings.load())
    seconds: dict[str, float] = {}
    began = time.perf_counter()
    settings = Settings.load()
    ensure_landing(warehouse)
    window = Window.for_days(first, last, settings.business_time_zone)
    catalogue = load_catalogue(settings.processes_file)
    for cfg in load_sources(settings):
        land(warehouse, extract(cfg, window, catalogue), window)
    seconds["extract and land history"] = time.perf_counter() - began
    began = time.perf_counter()
    load_reference(warehouse, settings)
    dbt_in_process("build", "--select", "fqn:*", "--exclude", REFERENCE_EXCLUDE)
    dbt_in_process("run", "--select", BASE_MODELS)
    seconds["reference + fct_node_runs (dbt)"] = time.perf_counter() - began
    return seconds


@dataclass
class MonitoringBenchmarkOptions:
    """The options of `commitments benchmark monitoring` (their help is in commitments_cli/app.py)."""

    runs: int = 1_000_000
    days: int = 60
    warehouse: str = "duckdb"  # duckdb or postgres
    evaluations: int = 3
    seed: int = 7
    data_dir: Path | None = None
    output: Path = PROJECT_DIR / "BENCHMARKS.md"
    no_write: bool = False
    command: str = "commitments benchmark monitoring"  # as recorded with the results


def run(args: MonitoringBenchmarkOptions) -> None:
    from benchmarks.pipeline import (
        _drop_pg_schemas,
        _set_warehouse_env,
        machine_info,
        use_demo_sources,
        write_section,
    )
    from demo.generator import orders_for_runs
    from demo.monitoring import WEBHOOK_ENV, advance_sources
    from demo.receiver import WebhookReceiver
    from demo.ticket_api_server import serve_in_subprocess
    from orchestration.monitoring.evaluate import evaluate
    from orchestration.warehouse import Warehouse

    root = (args.data_dir or Path(tempfile.mkdtemp(prefix="monitoring-benchmark-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["COMMITMENTS_DATA_DIR"] = str(root)
    os.environ["OA_DB_URL"] = f"sqlite:///{root / 'sources' / 'oa_workflow.sqlite'}"
    use_demo_sources(root)
    _prepare_alerts(root, args.days)
    schema = f"monbench_{uuid.uuid4().hex[:8]}"
    _set_warehouse_env(args.warehouse, schema, root)
    receiver = WebhookReceiver().start()
    os.environ[WEBHOOK_ENV] = receiver.url
    tz = Settings.load().business_time_zone
    step = dt.timedelta(minutes=15)
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - args.evaluations * step
    today = now.astimezone(tz).date()
    first = today - dt.timedelta(days=args.days)
    orders = orders_for_runs(args.runs, first, now)
    began = time.perf_counter()
    truth = advance_sources(root, first, now, orders, args.seed)
    print(
        f"{len(truth):,} node runs over {args.days} days generated in {time.perf_counter() - began:.0f} s", flush=True
    )
    del truth
    (root / "sources" / "ticket_events.jsonl").touch()
    server = serve_in_subprocess(root / "sources" / "ticket_events.jsonl", token="")
    os.environ["TICKET_API_URL"] = server.url
    warehouse = Warehouse.from_settings(Settings.load())
    lines: list[str] = []
    try:
        setup = _load_history(first, today - dt.timedelta(days=1))
        history = int(warehouse.query(f"select count(*) as n from {schema}.fct_node_runs").n.iloc[0])
        print(f"history: {history:,} runs in fct_node_runs; " + ", ".join(f"{k} {v:.0f} s" for k, v in setup.items()))
        header = ("| evaluation at (UTC) | rows landed | open runs | new alerts | messages | extract s | dbt s "
                  "| record s | deliver s | total s |")  # fmt: skip
        lines += [header, "|" + "---|" * 10]
        for k in range(args.evaluations + 1):
            as_of = now + k * step
            if k:
                advance_sources(root, first, as_of, orders, args.seed)
            before = len(receiver.received)
            result = evaluate(warehouse, Settings.load(), now=as_of)
            opened = int(warehouse.query(f"select count(*) as n from {schema}.open_run_states").n.iloc[0])
            landed = sum(i.received for i in result.increments)
            s = result.seconds
            lines.append(
                f"| {as_of:%H:%M}{' (day so far)' if k == 0 else ''} | {landed:,} | {opened:,} | {result.recorded:,} "
                f"| {len(receiver.received) - before} | {s['extract']:.1f} | {s['dbt']:.1f} | {s['record']:.1f} "
                f"| {s['deliver']:.1f} | {sum(s.values()):.1f} |"
            )
            print(lines[-1], flush=True)
    finally:
        server.shutdown()
        receiver.stop()
        if args.warehouse == "postgres":
            _drop_pg_schemas(warehouse, schema)
        if args.data_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    body = "\n".join(
        [
            f"`{args.command}`: "
            f"{history:,} historical node runs in fct_node_runs ({args.days} days), {args.warehouse}. "
            "One evaluation = land the changes since the cursors, dbt (fct_node_runs for the changed work "
            "orders, open_run_states), record, deliver (digest per department to a local webhook).",
            "",
            *lines,
            "",
            *machine_info([args.warehouse]),
        ]
    )
    print("\n" + body)
    if not args.no_write:
        title = f"Live monitoring: one evaluation over {history:,} runs, {args.warehouse}"
        write_section(args.output, f"monitoring {args.warehouse} runs={args.runs}", title, body)
        print(f"written to {args.output}")


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.monitoring [options]` is `commitments benchmark monitoring [options]`."""
    from commitments_cli.app import app

    app(["benchmark", "monitoring", *(sys.argv[1:] if argv is None else argv)], prog_name="commitments")


if __name__ == "__main__":
    main()
