"""Peak memory and CPU of extracting and landing one large source window, batch by batch.

    python -m benchmarks.landing_batches file --rows 5000000               # a generated CSV of status events
    python -m benchmarks.landing_batches sql --url postgresql+psycopg2://...  # a table `events` of the same columns
    options: --warehouse duckdb|postgres, --batch-rows N, --data-dir DIR

Run it in a process of its own: the peak resident set size it prints is the process's (`ru_maxrss`), so
the figure is that of reading, normalising and landing the window (BENCHMARKS.md, "Extraction and landing
in batches"). The CSV (columns id, wo, status, at, team; 30 days of October 2026; five events per work
order) is generated once into the data directory and reused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from orchestration.landing.batch import ensure_landing, extract_batches, land_batches
from orchestration.periods import Window
from orchestration.reference.catalogue import load_catalogue
from orchestration.settings import Settings
from orchestration.sources.config import SourceConfig
from orchestration.warehouse import Warehouse

DECLARATION = {
    "shape": "status_history",
    "time_zone": "UTC",
    "timestamp_marks": "entry",
    "columns": {"source_row_key": "id", "work_order_id": "wo", "status": "status", "event_at": "at",
                "department": "team"},
    "process": "BROADBAND",
    "nodes": {"BROADBAND": {"INSTALLING": "INSTALL", "CALLBACK": "FOLLOWUP"}},
    "terminal_statuses": ["CLOSED"],
    "freshness": "off",
    "volume": "off",
}  # fmt: skip
FIRST, LAST = dt.date(2026, 10, 1), dt.date(2026, 10, 30)


def generate(rows: int, path: Path) -> Path:
    if path.exists():
        return path
    rng = np.random.default_rng(7)
    seconds = np.sort(rng.integers(0, 30 * 86400, rows))
    instants = np.datetime64("2026-10-01T00:00:00") + seconds.astype("timedelta64[s]")
    table = pa.table(
        {
            "id": np.char.add("E", np.arange(rows).astype(str)),
            "wo": np.char.add("W", rng.integers(0, max(rows // 5, 1), rows).astype(str)),
            "status": np.array(["INSTALLING", "CALLBACK", "CLOSED"])[rng.integers(0, 3, rows)],
            "at": np.datetime_as_string(instants.astype("datetime64[s]")),
            "team": np.array(["装维", "客服", "调度"])[rng.integers(0, 3, rows)],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pa_csv.write_csv(table, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["file", "sql"])
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the generated CSV (file)")
    parser.add_argument("--url", help="SQLAlchemy URL of a database holding `events` (sql)")
    parser.add_argument("--warehouse", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument("--batch-rows", type=int, default=200_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/landing_batches"))
    args = parser.parse_args()
    settings = Settings.load()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    if args.warehouse == "duckdb":
        warehouse = Warehouse(target="duckdb", duckdb_path=str(args.data_dir / f"{schema}.duckdb"), schema_name=schema)
    else:
        warehouse = Warehouse(target="postgres", pg_host=os.environ.get("PGHOST", "127.0.0.1"),
                              pg_user=os.environ.get("PGUSER", "postgres"),
                              pg_database=os.environ.get("PGDATABASE", "test"), schema_name=schema)  # fmt: skip
    declaration = {**DECLARATION, "name": f"bench_{args.kind}", "kind": args.kind, "batch_rows": args.batch_rows}
    if args.kind == "file":
        declaration["path"] = str(generate(args.rows, args.data_dir / f"events_{args.rows}.csv"))
    else:
        os.environ["BENCH_SQL_URL"] = args.url
        declaration.update(
            connection={"url_env": "BENCH_SQL_URL"},
            query="SELECT id, wo, status, at, team FROM events WHERE at >= :window_start AND at < :window_end",
            columns={**DECLARATION["columns"], "changed_at": "at"},
        )
    cfg = SourceConfig.model_validate(declaration)
    window = Window.for_days(FIRST, LAST, settings.business_time_zone)
    ensure_landing(warehouse)
    cpu, began = time.process_time(), time.perf_counter()
    landed = land_batches(
        warehouse, cfg.name, cfg.shape, window, extract_batches(cfg, window, load_catalogue(settings.processes_file))
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "source": args.kind, "warehouse": args.warehouse, "batch_rows": args.batch_rows,
        "received": landed.received, "accepted": landed.accepted, "quarantined": landed.quarantined,
        "seconds": {k: round(v, 1) for k, v in landed.seconds.items()}, "wall_s": round(time.perf_counter() - began, 1),
        "cpu_s": round(time.process_time() - cpu, 1), "peak_rss_gib": round(usage.ru_maxrss / 2**20, 2),
        "load_1min": round(os.getloadavg()[0], 1),
    }))  # fmt: skip
    if args.warehouse == "postgres":
        warehouse.execute(f"drop schema if exists {warehouse.landing_schema} cascade")


if __name__ == "__main__":
    main()
