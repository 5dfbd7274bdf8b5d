"""How long the monthly department reports take: every department's report of one month, from the reporting
layer of the warehouse the environment names (WAREHOUSE_TARGET, WAREHOUSE_SCHEMA, WAREHOUSE_DUCKDB_PATH, PG*).

    commitments benchmark reports --month 2026-11 [--repeat 3] [--out DIR]

Target (issue 13): all of a month's reports at 1M node runs in <= 10 s. Build such a warehouse first with
`commitments benchmark pipeline --runs 1000000 --keep --no-write --data-dir DIR` and point the environment
at it. Prints the node runs of the month, the departments, and the median seconds of reading and rendering.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from orchestration.monitoring.templates import report_file_name
from orchestration.reports.queries import Reporting
from orchestration.reports.render import MonthData, department_report
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse


def run(month: date, repeat: int = 3, out: Path | None = None) -> str:
    warehouse = Warehouse.from_settings(Settings.load())
    reporting = Reporting(warehouse.query, warehouse.schema_name)
    runs = warehouse.query(
        f"select count(*) as n from {reporting.rel('rpt_node_run_states')} "
        f"where period_grain = 'month' and period_start_date = '{month}'"
    ).n.iloc[0]
    out = out or Path(tempfile.mkdtemp(prefix="report-benchmark-"))
    out.mkdir(parents=True, exist_ok=True)
    reads, renders, totals, departments = [], [], [], []
    for _ in range(repeat):
        began = time.perf_counter()
        data = MonthData.read(reporting, month)
        read = time.perf_counter()
        departments = data.departments()
        for department in departments:
            html = department_report(data, department, datetime.now(UTC))
            (out / report_file_name(department)).write_text(html, encoding="utf-8")
        done = time.perf_counter()
        reads.append(read - began)
        renders.append(done - read)
        totals.append(done - began)
    return (
        f"| month | node runs judged in the month | departments | read (s) | render + write (s) | total (s) |\n"
        f"|---|--:|--:|--:|--:|--:|\n"
        f"| {month:%Y-%m} | {int(runs):,} | {len(departments)} | {statistics.median(reads):.2f} | "
        f"{statistics.median(renders):.2f} | **{statistics.median(totals):.2f}** |\n"
        f"({warehouse.describe()}, median of {repeat}; reports written to {out})"
    )
