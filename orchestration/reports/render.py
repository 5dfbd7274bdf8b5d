"""Monthly department reports: one self-contained HTML file per department (charts as inline SVG, no script,
no network needed to open it), in Chinese, from the reporting layer. The data of every month a run renders is
read in four queries for all months and departments at once and split here, so a backfill of years reads about
as much as one month, and rendering every department costs about as much as one."""

from __future__ import annotations

import html
import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from pathlib import Path

import pandas as pd

from orchestration.monitoring.templates import report_file_name
from orchestration.reports.charts import entity_names
from orchestration.reports.labels import fmt_count, fmt_duration, fmt_rate, fmt_time, label, run_node_name
from orchestration.reports.queries import LATE_STATES, Reporting, _in, literal
from orchestration.reports.svg_charts import FONT_FAMILY, rate_trend, states_bar

TREND_MONTHS = 6
LATE_LIMIT = 20


def month_start(month: date) -> date:
    return month.replace(day=1)


def _months_back(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def _dates(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(period_start_date=pd.to_datetime(frame.period_start_date).dt.date)


def _by(frame: pd.DataFrame, column: str) -> dict[object, pd.DataFrame]:
    return {key: group for key, group in frame.groupby(column, sort=False)}


@dataclass(frozen=True)
class MonthData:
    """Everything the month's reports show, for every department."""

    month: date
    rates: pd.DataFrame  # grouping levels department and process_node, the trend months
    node_departments: pd.DataFrame  # department, process_code, node_code of the month's runs
    late: pd.DataFrame  # each department's longest late runs
    late_counts: pd.Series  # department -> late runs of the month

    @classmethod
    def read(cls, reporting: Reporting, month: date) -> MonthData:
        return cls.read_months(reporting, [month])[month_start(month)]

    @classmethod
    def read_months(cls, reporting: Reporting, months: list[date]) -> dict[date, MonthData]:
        """Every month's data in four queries over the whole range (a backfill of years costs about what one
        month does), split by month here."""
        months = sorted({month_start(m) for m in months})
        if not months:
            return {}
        first, last = _months_back(months[0], TREND_MONTHS - 1), months[-1]
        rates = reporting.query(
            f"select * from {reporting.rel('rpt_achievement_rates')} where period_grain = 'month' "
            f"and period_start_date >= {literal(first)} and period_start_date <= {literal(last)} "
            "and grouping_level in ('department', 'process_node') order by period_start_date, process_code, node_code"
        )
        runs = reporting.rel("rpt_node_run_states")
        these_months = f"period_grain = 'month' and period_start_date in ({', '.join(literal(m) for m in months)})"
        nodes = reporting.query(
            f"select distinct period_start_date, department, process_code, node_code from {runs} "
            f"where {these_months} and department is not null"
        )
        late = reporting.query(
            "select * from (select s.*, row_number() over (partition by period_start_date, department "
            "order by run_seconds desc, node_run_id) as place "
            f"from {runs} s where {these_months} and state in {_in(LATE_STATES)}) as t "
            f"where place <= {LATE_LIMIT} order by period_start_date, department, place"
        )
        counts = reporting.query(
            f"select period_start_date, department, count(*) as n from {runs} where {these_months} "
            f"and state in {_in(LATE_STATES)} group by period_start_date, department"
        )
        rates, nodes, late, counts = (_dates(f) for f in (rates, nodes, late, counts))
        nodes_of, late_of, counts_of = (_by(f, "period_start_date") for f in (nodes, late, counts))
        out = {}
        for month in months:
            trend = (rates.period_start_date >= _months_back(month, TREND_MONTHS - 1)) & (
                rates.period_start_date <= month
            )
            month_counts = counts_of.get(month, counts.iloc[:0])
            out[month] = cls(
                month,
                rates[trend],
                nodes_of.get(month, nodes.iloc[:0]).drop(columns="period_start_date"),
                late_of.get(month, late.iloc[:0]),
                month_counts.set_index("department").n,
            )
        return out

    def departments(self) -> list[str]:
        level = self.rates[(self.rates.grouping_level == "department") & (self.rates.period_start_date == self.month)]
        return sorted(d for d in level.department if d not in ("(none)", "*"))

    @cached_property
    def _parts(self) -> dict[str, dict[str, pd.DataFrame]]:
        """Every department's frames, split once: one merge and one grouping for the month, not per department."""
        rates = self.rates
        own = _by(rates[rates.grouping_level == "department"], "department")
        keys = self.node_departments.rename(columns={"department": "_for"})
        trend = rates[rates.grouping_level == "process_node"].merge(keys, on=["process_code", "node_code"])
        nodes_trend = {d: g.drop(columns="_for") for d, g in _by(trend, "_for").items()}
        late = _by(self.late, "department")
        no_nodes = trend.iloc[:0].drop(columns="_for")
        parts = {}
        for department in self.departments():
            nodes = nodes_trend.get(department, no_nodes)
            parts[department] = {
                "own": own.get(department, rates.iloc[:0]),
                "nodes_trend": nodes,
                "nodes": nodes[nodes.period_start_date == self.month],
                "late": late.get(department, self.late.iloc[:0]),
            }
        return parts

    def department(self, department: str) -> dict[str, pd.DataFrame]:
        return self._parts[department]


def _table(table_id: str, columns: list[tuple[str, str]], rows: list[dict[str, str]]) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in columns)
    body = "".join(
        "<tr>" + "".join(f'<td data-col="{key}">{html.escape(row[key])}</td>' for key, _ in columns) + "</tr>"
        for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _flags(row: pd.Series, language: str) -> str:
    return "、".join(label(f, language) for f in ("raise_commitment", "improve_process") if bool(row[f]))


def node_rows(nodes: pd.DataFrame, language: str) -> list[dict[str, str]]:
    names = entity_names(nodes, "node", language) if not nodes.empty else []
    return [
        {
            "node": name,
            "commitment": fmt_duration(r.commitment_seconds, language),
            "tolerance": fmt_duration(r.tolerance_seconds, language),
            "total_runs": fmt_count(r.total_runs),
            "evaluated_runs": fmt_count(r.evaluated_runs),
            "achievement_rate": fmt_rate(r.achievement_rate),
            "completed_achievement_rate": fmt_rate(r.completed_achievement_rate),
            "flags": _flags(r, language),
        }
        for name, (_, r) in zip(names, nodes.iterrows(), strict=True)
    ]


def late_rows(late: pd.DataFrame, language: str) -> list[dict[str, str]]:
    return [
        {
            "work_order_id": str(r.work_order_id),
            "node": run_node_name(r, language),
            "start": fmt_time(r.start_at_local),
            "run_time": fmt_duration(r.run_seconds, language),
            "commitment": fmt_duration(r.commitment_seconds, language),
            "state": label(r.state, language),
            "clock": label(str(r.clock), language),
            "commitment_version": str(r.commitment_version_id),
        }
        for r in late.itertuples()
    ]


NODE_COLUMNS = ["node", "commitment", "tolerance", "total_runs", "evaluated_runs", "achievement_rate",
                "completed_achievement_rate", "flags"]  # fmt: skip
LATE_COLUMNS = ["work_order_id", "node", "start", "run_time", "commitment", "state", "clock", "commitment_version"]

_STYLE = """
body { font-family: FONTS; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }
th { background: #f5f5f5; }
.summary { font-size: 18px; }
.chart { margin: 1.5em 0; }
.chart svg { display: block; width: 100%; height: auto; }
""".replace("FONTS", FONT_FAMILY)


def department_report(data: MonthData, department: str, generated: datetime, language: str = "zh") -> str:
    """One department's report for the month, a complete HTML document."""
    parts = data.department(department)
    month = data.month.strftime("%Y-%m")
    own = parts["own"]
    this = own[own.period_start_date == data.month]
    total = this.total_runs.sum() if len(this) else 0
    evaluated = this.evaluated_runs.sum() if len(this) else 0
    rate = this.achievement_rate.iloc[0] if len(this) else None
    title = label("report_title", language).format(department=department, month=month)
    col = {k: label(k, language) for k in set(NODE_COLUMNS + LATE_COLUMNS)}
    col["work_order_id"] = label("work_order", language)
    col["start"] = label("start", language)
    charts = [
        rate_trend(own, "department", language, "chart-0", label("department_trend", language)),
        states_bar(parts["nodes"], "node", language, "chart-1"),
        rate_trend(parts["nodes_trend"], "node", language, "chart-2"),
    ]
    figures = "".join(f'<div class="chart">{svg}</div>' for svg in charts)
    count = int(data.late_counts.get(department, 0))
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="generated">{html.escape(generated.strftime("%Y-%m-%d %H:%M"))}</p>',
        '<p class="summary" id="summary">'
        + html.escape(
            label("report_summary", language).format(
                total=fmt_count(total), evaluated=fmt_count(evaluated), rate=fmt_rate(rate)
            )  # fmt: skip
        )
        + "</p>",
        f"<h2>{html.escape(label('node_rates', language))}</h2>",
        _table("node-rates", [(k, col[k]) for k in NODE_COLUMNS], node_rows(parts["nodes"], language)),
        figures,
        f"<h2>{html.escape(label('late_runs', language))}: "
        f'<span id="late-count">{fmt_count(count)}</span> {html.escape(label("late_runs_count", language))}</h2>',
        f"<p>{html.escape(label('report_late', language))}</p>",
        _table("late-runs", [(k, col[k]) for k in LATE_COLUMNS], late_rows(parts["late"], language)),
    ]
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if language == "zh" else "en"}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>"
    )


# A backfill's reports are rendered by this many processes at most (one the run's own)...
PROCESSES = 4
# ...and only from this many reports: a process of its own starts in about 1.5 s (its imports), what rendering
# some twenty reports takes.
PARALLEL_FROM = 24


def render_months(
    reporting: Reporting, months: list[date], reports_dir: Path, generated: datetime, processes: int | None = None,
    parallel_from: int = PARALLEL_FROM,
) -> dict[date, dict[str, Path]]:  # fmt: skip
    """Every department's report of each month under `<reports_dir>/<YYYY-MM>/`; returns month -> department ->
    file. A report is written whole to a temporary name, then renamed: a reader never sees half a file.

    The charts are pure Python (pygal, about 40 ms a report), so a backfill of years (142 reports for the
    help-desk history: 17 s alone) renders shares of its months in processes of their own besides this one,
    when there are cores for them; the warehouse is read here only, in the four queries for all months."""
    data = list(MonthData.read_months(reporting, months).values())
    written = {d.month: {dept: reports_dir / d.month.strftime("%Y-%m") / report_file_name(dept)
                         for dept in d.departments()} for d in data}  # fmt: skip
    processes = min(processes or len(os.sched_getaffinity(0)), PROCESSES, len(data))
    if processes < 2 or sum(map(len, written.values())) < parallel_from:
        _write_months(data, written, generated)
        return written
    shares = [data[i::processes] for i in range(processes)]  # interleaved: later months, with more nodes, spread
    with tempfile.TemporaryDirectory(prefix="reports-") as tmp:
        others = []
        for i, share in enumerate(shares[1:]):
            task = Path(tmp) / f"share-{i}.pickle"
            task.write_bytes(pickle.dumps((share, {d.month: written[d.month] for d in share}, generated)))
            # A new interpreter on this module, not multiprocessing's spawn, which would import the caller's
            # main module again in each worker (a script without a __main__ guard would run its pipeline twice).
            others.append(subprocess.Popen([sys.executable, "-m", __name__, str(task)]))
        _write_months(shares[0], written, generated)
        failed = [other.args for other in others if other.wait() != 0]
    if failed:
        raise RuntimeError(f"rendering a share of the months' reports failed (its error above): {failed}")
    return written


def _write_months(months: list[MonthData], files: dict[date, dict[str, Path]], generated: datetime) -> None:
    """Each department's report of the months, to the file `files` names for it."""
    for data in months:
        for department, path in files[data.month].items():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".html.partial")
            partial.write_text(department_report(data, department, generated), encoding="utf-8")
            partial.replace(path)


if __name__ == "__main__":  # a worker of render_months: its share of the months, from the file it names
    _write_months(*pickle.loads(Path(sys.argv[1]).read_bytes()))
