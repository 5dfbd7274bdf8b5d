"""The Dash app: overview, department (with a work order's node timeline), live, data quality; and the
monthly reports under /reports. Each page is drawn from its URL (`?lang=en&grain=week&period=...`), so
every view can be linked, bookmarked and opened by a test; the controls only rewrite the URL."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pandas as pd
from dash import ALL, Dash, Input, Output, State, dcc, html
from flask import abort, send_from_directory

from dashboard.data import reporting_from_env
from orchestration.reports import charts
from orchestration.reports.labels import fmt_count, fmt_duration, fmt_rate, fmt_time, label, run_node_name
from orchestration.reports.queries import GRAINS, Reporting
from orchestration.settings import Settings

PAGES = (("/", "overview"), ("/department", "department"), ("/live", "live"), ("/quality", "quality"))
STYLE = {"fontFamily": "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif", "margin": "0 2em"}


def _params(search: str | None) -> dict[str, str]:
    return dict(parse_qsl((search or "").lstrip("?")))


def _href(path: str, params: dict[str, str], **changes: str | None) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v}
    return path + ("?" + urlencode(merged) if merged else "")


def table(table_id: str, columns: list[tuple[str, str]], rows: list[dict[str, Any]], language: str) -> html.Table:
    """A plain HTML table; each cell carries its column (`data-col`), each row its key (`data-key`)."""
    if not rows:
        return html.P(label("no_data", language), id=table_id)
    head = html.Thead(html.Tr([html.Th(title) for _, title in columns]))
    body = html.Tbody(
        [
            html.Tr([html.Td(row[key], **{"data-col": key}) for key, _ in columns], **{"data-key": row.get("_key", "")})
            for row in rows
        ]
    )
    return html.Table([head, body], id=table_id, className="table")


def _graph(graph_id: str, figure: Any) -> dcc.Graph:
    return dcc.Graph(id=graph_id, figure=figure, config={"displaylogo": False})


def _flags(row: Any, language: str) -> str:
    return "、".join(label(f, language) for f in ("raise_commitment", "improve_process") if bool(getattr(row, f)))


def _choose_period(reporting: Reporting, grain: str, wanted: str | None) -> tuple[pd.DataFrame, date | None]:
    periods = reporting.periods(grain)
    if periods.empty:
        return periods, None
    starts = [str(p)[:10] for p in periods.period_start_date]
    chosen = wanted if wanted in starts else starts[0]
    return periods, date.fromisoformat(chosen)


def _controls(params: dict[str, str], language: str, periods: pd.DataFrame, period: date | None,
              departments: list[str] | None = None) -> html.Div:  # fmt: skip
    items = []
    if departments is not None:
        items.append(html.Label(label("department", language)))
        items.append(dcc.Dropdown(departments, params.get("department") or (departments[0] if departments else None),
                                  id={"type": "control", "name": "department"}, clearable=False,
                                  style={"width": "14em"}))  # fmt: skip
    items += [
        html.Label(label("grain", language)),
        dcc.Dropdown([{"label": label(g, language), "value": g} for g in GRAINS], params.get("grain", "month"),
                     id={"type": "control", "name": "grain"}, clearable=False, style={"width": "8em"}),
        html.Label(label("period", language)),
        dcc.Dropdown(
            [{"label": lbl, "value": str(p)[:10]} for p, lbl in zip(periods.period_start_date, periods.period_label,
                                                                      strict=True)],
            str(period) if period else None, id={"type": "control", "name": "period"}, clearable=False,
            style={"width": "14em"},
        ),
    ]  # fmt: skip
    return html.Div(items, style={"display": "flex", "gap": "0.8em", "alignItems": "center", "margin": "1em 0"})


def overview(reporting: Reporting, params: dict[str, str], language: str) -> list[Any]:
    grain = params.get("grain", "month") if params.get("grain") in GRAINS else "month"
    periods, period = _choose_period(reporting, grain, params.get("period"))
    content: list[Any] = [html.H2(label("overview", language)), _controls(params, language, periods, period)]
    if period is None:
        return [*content, html.P(label("no_data", language))]
    rates = reporting.process_rates(grain)
    this = rates[pd.to_datetime(rates.period_start_date).dt.date == period]
    names = charts.entity_names(this, "process", language)
    rows = [
        {"_key": r.process_code, "process": name, "total_runs": fmt_count(r.total_runs),
         "evaluated_runs": fmt_count(r.evaluated_runs), "achievement_rate": fmt_rate(r.achievement_rate),
         "completed_achievement_rate": fmt_rate(r.completed_achievement_rate), "flags": _flags(r, language)}
        for name, r in zip(names, this.itertuples(), strict=True)
    ]  # fmt: skip
    columns = ["process", "total_runs", "evaluated_runs", "achievement_rate", "completed_achievement_rate", "flags"]
    flagged = reporting.flagged_nodes(grain, period)
    flag_rows = [
        {"_key": f"{r.process_code}|{r.node_code}", "node": name, "achievement_rate": fmt_rate(r.achievement_rate),
         "commitment": fmt_duration(r.commitment_seconds, language), "flags": _flags(r, language)}
        for name, r in zip(charts.entity_names(flagged, "node", language), flagged.itertuples(), strict=True)
    ]  # fmt: skip
    return [
        *content,
        html.H3(label("rates_table", language)),
        table("process-rates", [(c, label(c, language)) for c in columns], rows, language),
        _graph("trend", charts.rate_trend(rates, "process", language)),
        _graph("states", charts.states_bar(this, "process", language)),
        html.H3(label("flagged_nodes", language)),
        table(
            "flagged",
            [(c, label(c, language)) for c in ("node", "achievement_rate", "commitment", "flags")],
            flag_rows,
            language,
        )
        if flag_rows
        else html.P(label("no_flags", language), id="flagged"),  # fmt: skip
    ]


def _late_rows(late: pd.DataFrame, params: dict[str, str], language: str) -> list[dict[str, Any]]:
    return [
        {"_key": r.node_run_id,
         "work_order": dcc.Link(r.work_order_id, href=_href("/work-order", params, id=r.work_order_id)),
         "node": run_node_name(r, language),
         "start": fmt_time(r.start_at_local), "run_time": fmt_duration(r.run_seconds, language),
         "commitment": fmt_duration(r.commitment_seconds, language),
         "tolerance": fmt_duration(r.tolerance_seconds, language), "state": label(r.state, language)}
        for r in late.itertuples()
    ]  # fmt: skip


def department(reporting: Reporting, params: dict[str, str], language: str) -> list[Any]:
    grain = params.get("grain", "month") if params.get("grain") in GRAINS else "month"
    departments = reporting.departments()
    chosen = params.get("department") if params.get("department") in departments else None
    chosen = chosen or (departments[0] if departments else None)
    periods, period = _choose_period(reporting, grain, params.get("period"))
    content: list[Any] = [
        html.H2(label("department", language)),
        _controls({**params, "department": chosen or ""}, language, periods, period, departments),
    ]
    if period is None or chosen is None:
        return [*content, html.P(label("no_data", language))]
    own = reporting.department_rates(grain, chosen)
    this = own[pd.to_datetime(own.period_start_date).dt.date == period]
    nodes = reporting.department_nodes(grain, period, chosen)
    node_rows = [
        {"_key": f"{r.process_code}|{r.node_code}", "node": name,
         "commitment": fmt_duration(r.commitment_seconds, language),
         "tolerance": fmt_duration(r.tolerance_seconds, language), "total_runs": fmt_count(r.total_runs),
         "evaluated_runs": fmt_count(r.evaluated_runs), "achievement_rate": fmt_rate(r.achievement_rate),
         "flags": _flags(r, language)}
        for name, r in zip(charts.entity_names(nodes, "node", language), nodes.itertuples(), strict=True)
    ]  # fmt: skip
    node_columns = ["node", "commitment", "tolerance", "total_runs", "evaluated_runs", "achievement_rate", "flags"]
    late = reporting.late_runs(grain, period, chosen)
    late_columns = ["work_order", "node", "start", "run_time", "commitment", "tolerance", "state"]
    rate = this.achievement_rate.iloc[0] if len(this) else None
    return [
        *content,
        html.P(
            [f"{label('achievement_rate', language)}: ", html.B(fmt_rate(rate), id="department-rate")],
            style={"fontSize": "1.3em"},
        ),  # fmt: skip
        html.H3(label("node_rates", language)),
        table("node-rates", [(c, label(c, language)) for c in node_columns], node_rows, language),
        _graph("node-trend", charts.rate_trend(reporting.node_trend(grain, nodes), "node", language)),
        _graph("node-states", charts.states_bar(nodes, "node", language)),
        html.H3(
            [
                label("late_runs", language),
                ": ",
                html.Span(fmt_count(reporting.late_run_count(grain, period, chosen)), id="late-count"),
                " ",
                label("late_runs_count", language),
            ]
        ),  # fmt: skip
        table(
            "late-runs", [(c, label(c, language)) for c in late_columns], _late_rows(late, params, language), language
        ),  # fmt: skip
    ]


def work_order(reporting: Reporting, params: dict[str, str], language: str) -> list[Any]:
    work_order_id = params.get("id", "")
    runs = reporting.work_order_timeline(work_order_id)
    for column in ("start_at_local", "end_at_local"):
        runs[column] = pd.to_datetime(runs[column])
    rows = [
        {"_key": r.node_run_id, "node": f"{run_node_name(r, language, with_process=False)} ({r.node_code})",
         "visit": str(r.visit), "department": r.department or "—", "position": r.position or "—",
         "start": fmt_time(r.start_at_local), "end": fmt_time(r.end_at_local),
         "run_time": fmt_duration(r.run_seconds, language), "clock": label(str(r.clock), language),
         "commitment": fmt_duration(r.commitment_seconds, language),
         "commitment_version": str(r.commitment_version_id or "—"), "state": label(r.state, language)}
        for r in runs.itertuples()
    ]  # fmt: skip
    columns = ["node", "visit", "department", "position", "start", "end", "run_time", "clock", "commitment",
               "commitment_version", "state"]  # fmt: skip
    process = runs.process_name_zh.iloc[0] if len(runs) else ""
    return [
        html.H2(f"{label('work_order', language)} {work_order_id} {process}"),
        table("timeline-table", [(c, label(c, language)) for c in columns], rows, language),
        _graph("timeline", charts.timeline(runs, language)),
    ]


def live(reporting: Reporting, params: dict[str, str], language: str) -> list[Any]:
    runs = reporting.open_runs(params.get("department") or None)
    rows = [
        {"_key": r.node_run_id, "work_order": dcc.Link(r.work_order_id, href=_href("/work-order", params,
                                                                                    id=r.work_order_id)),
         "node": run_node_name(r, language),
         "department": r.department or "—", "start": fmt_time(r.start_at_local),
         "run_time": fmt_duration(r.run_seconds, language), "commitment": fmt_duration(r.commitment_seconds, language),
         "time_left": fmt_duration(r.seconds_left, language), "pct_elapsed": fmt_rate(r.pct_of_limit_elapsed),
         "breach_at": fmt_time(r.breach_at_local), "band": label(str(r.band), language)}
        for r in runs.itertuples()
    ]  # fmt: skip
    columns = ["work_order", "node", "department", "start", "run_time", "commitment", "time_left", "pct_elapsed",
               "breach_at", "band"]  # fmt: skip
    as_of = f"{fmt_time(runs.as_of_local.iloc[0])} ({fmt_time(runs.as_of_utc.iloc[0])} UTC)" if len(runs) else "—"
    return [
        html.H2(label("live", language)),
        html.P(f"{label('as_of', language)}: {as_of}", id="as-of"),
        html.H3(label("open_runs", language)),
        table("open-runs", [(c, label(c, language)) for c in columns], rows, language),
    ]


def quality(reporting: Reporting, params: dict[str, str], language: str) -> list[Any]:
    """rpt_data_quality: per source and date a totals row (reason_code null) and a row per reason code."""
    dq = reporting.data_quality()
    days = dq[dq.reason_code.isna()]
    reasons = dq[dq.reason_code.notna() & (dq.quarantined_rows.fillna(0) > 0)]
    by_reason = {
        (str(key[0])[:10], key[1]): "、".join(f"{r}: {int(n)}" for r, n in zip(g.reason_code, g.quarantined_rows,
                                                                             strict=True))
        for key, g in reasons.groupby(["business_date", "source"])
    }  # fmt: skip
    rows = [
        {"_key": f"{str(r.business_date)[:10]}|{r.source}", "business_date": str(r.business_date)[:10],
         "source": r.source, "received_rows": fmt_count(r.received_rows), "accepted_rows": fmt_count(r.accepted_rows),
         "quarantined_rows": fmt_count(r.quarantined_rows),
         "reason_code": by_reason.get((str(r.business_date)[:10], r.source), ""),
         "checks": f"{fmt_count(r.checks_passed)} / {fmt_count(r.checks_failed)}"}
        for r in days.sort_values(["business_date", "source"], ascending=[False, True]).itertuples()
    ]  # fmt: skip
    columns = ["business_date", "source", "received_rows", "accepted_rows", "quarantined_rows", "reason_code",
               "checks"]  # fmt: skip
    return [
        html.H2(label("quality", language)),
        _graph("quality-chart", charts.quality_bar(days, reasons, language)),
        table("quality-table", [(c, label(c, language)) for c in columns], rows, language),
    ]


VIEWS = {"/": overview, "/department": department, "/live": live, "/quality": quality, "/work-order": work_order}


def create_app(reporting: Reporting, reports_dir: Path) -> Dash:
    app = Dash(__name__, title="服务承诺 · Service commitments", suppress_callback_exceptions=True,
               update_title=None)  # fmt: skip
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="header"), html.Div(id="page")], style=STYLE)

    @app.server.route("/reports/<month>/<path:name>")
    def report_file(month: str, name: str):
        if not (reports_dir / month).is_dir():
            abort(404)
        return send_from_directory(reports_dir / month, name)  # refuses paths outside the directory

    @app.callback(Output("header", "children"), Output("page", "children"), Input("url", "pathname"),
                  Input("url", "search"))  # fmt: skip
    def render(pathname: str | None, search: str | None):
        params = _params(search)
        language = "en" if params.get("lang") == "en" else "zh"
        path = pathname or "/"
        nav = [dcc.Link(label(name, language), href=_href(p, {"lang": params.get("lang", "")}), id=f"nav-{name}",
                        style={"marginRight": "1.5em", "fontWeight": "bold" if p == path else "normal"})
               for p, name in PAGES]  # fmt: skip
        switch = dcc.Link(label("language", language), id="language-switch",
                          href=_href(path, params, lang=None if language == "en" else "en"))  # fmt: skip
        header = html.Div([html.H1(label("title", language), style={"fontSize": "1.6em"}),
                           html.Nav([*nav, switch])])  # fmt: skip
        view = VIEWS.get(path)
        if view is None:
            return header, html.P("404", id="not-found")
        return header, html.Div(view(reporting, params, language), id=f"view-{path.strip('/') or 'overview'}")

    @app.callback(Output("url", "search"), Input({"type": "control", "name": ALL}, "value"),
                  State({"type": "control", "name": ALL}, "id"), State("url", "search"),
                  prevent_initial_call=True)  # fmt: skip
    def choose(values: list[Any], ids: list[dict[str, str]], search: str | None) -> str:
        params = _params(search)
        for value, ident in zip(values, ids, strict=True):
            params[ident["name"]] = str(value) if value is not None else ""
        if ids and any(i["name"] == "grain" for i in ids) and params.get("grain") != _params(search).get("grain"):
            params.pop("period", None)  # another grain's periods start on other dates
        merged = {k: v for k, v in params.items() if v}
        return "?" + urlencode(merged) if merged else ""

    return app


def serve(host: str, port: int, settings: Settings | None = None) -> None:
    """Serve the dashboard until interrupted (Flask's threaded server: a few readers, read-only)."""
    settings = settings or Settings.load()
    reporting, _ = reporting_from_env(settings)
    create_app(reporting, settings.data_dir / "reports").run(host=host, port=port, debug=False)
