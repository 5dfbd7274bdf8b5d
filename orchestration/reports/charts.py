"""The charts of the dashboard and the reports (plotly figures), from frames of the reporting layer."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from orchestration.reports.labels import BAND_COLOURS, STATE_COLOURS, STATES, label, name_column

# Plain lists, not numpy arrays: plotly would encode those as typed-array blobs, which a reader of the page's
# data (or of a report's source) cannot read.
_LAYOUT = {
    "margin": {"l": 40, "r": 20, "t": 50, "b": 40},
    "legend": {"orientation": "h", "y": -0.2},
    "font": {"family": "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif"},
    "template": "plotly_white",
}


def entity_names(frame: pd.DataFrame, by: str, language: str) -> pd.Series:
    """A row's display name: the node as `process · node`, a process or department by its name."""
    if by == "node":
        process = frame[name_column("process", language)].fillna(frame.process_code)
        return process + " · " + frame[name_column("node", language)].fillna(frame.node_code)
    if by == "process":
        return frame[name_column("process", language)].fillna(frame.process_code)
    return frame[by]


def rate_trend(rates: pd.DataFrame, by: str, language: str, title: str | None = None) -> go.Figure:
    """The achievement rate of each entity over the periods (one line each)."""
    fig = go.Figure()
    if not rates.empty:
        rates = rates.assign(_name=entity_names(rates, by, language)).sort_values("period_start_date")
        for name, group in rates.groupby("_name", sort=True):
            fig.add_trace(
                go.Scatter(
                    x=group.period_label.tolist(), y=group.achievement_rate.tolist(), name=str(name),
                    mode="lines+markers",
                    hovertemplate="%{x}: %{y:.1%}<extra>" + str(name) + "</extra>",
                )
            )  # fmt: skip
    # Periods are categories: a single month must not become a time axis of milliseconds.
    fig.update_layout(title=title or label("trend", language), yaxis={"tickformat": ".0%", "range": [0, 1.05]},
                      xaxis={"type": "category"}, **_LAYOUT)  # fmt: skip
    return fig


def states_bar(rates: pd.DataFrame, by: str, language: str, title: str | None = None) -> go.Figure:
    """The seven states of each entity's runs in one period, stacked (counts)."""
    fig = go.Figure()
    names = entity_names(rates, by, language) if not rates.empty else pd.Series(dtype=str)
    for state in STATES:
        fig.add_trace(
            go.Bar(
                y=list(names), x=rates[state].astype(int).tolist() if not rates.empty else [],
                name=label(state, language), orientation="h",
                marker_color=STATE_COLOURS[state],
            )
        )  # fmt: skip
    fig.update_layout(barmode="stack", title=title or label("states_bar", language),
                      height=max(300, 60 + 32 * len(rates)), yaxis={"automargin": True},
                      **_LAYOUT | {"legend": {"orientation": "h", "y": -0.2, "traceorder": "normal"}})  # fmt: skip
    return fig


def timeline(runs: pd.DataFrame, language: str) -> go.Figure:
    """A work order's node runs on a time axis (local business time), coloured by band."""
    fig = go.Figure()
    if not runs.empty:
        runs = runs.assign(
            _name=runs.node_name_zh.fillna(runs.node_code) + " (" + runs.visit.astype(str) + ")",
            _end=runs.end_at_local.fillna(runs.start_at_local + pd.to_timedelta(runs.run_seconds, unit="s")),
        )
        for band, group in runs.groupby(runs.band.fillna("cancelled"), sort=False):
            fig.add_trace(
                go.Bar(
                    base=group.start_at_local, x=(group["_end"] - group.start_at_local).dt.total_seconds() * 1000,
                    y=group["_name"], orientation="h", name=label(band, language),
                    marker_color=BAND_COLOURS.get(band, "#9e9e9e"), customdata=group.department,
                    hovertemplate="%{y} · %{customdata}<extra></extra>",
                )
            )  # fmt: skip
    fig.update_layout(title=label("timeline", language), xaxis={"type": "date"},
                      yaxis={"autorange": "reversed", "automargin": True}, **_LAYOUT)  # fmt: skip
    return fig


def quality_bar(days: pd.DataFrame, reasons: pd.DataFrame, language: str) -> go.Figure:
    """Per business date: the accepted rows and the quarantined rows by reason, stacked."""
    fig = go.Figure()
    if not days.empty:
        per_day = days.groupby("business_date", as_index=False).accepted_rows.sum()
        fig.add_trace(go.Bar(x=per_day.business_date.astype(str).tolist(), y=per_day.accepted_rows.tolist(),
                             name=label("accepted_rows", language),
                             marker_color=BAND_COLOURS["normal"]))  # fmt: skip
        for reason, group in reasons.groupby("reason_code"):
            per_reason = group.groupby("business_date", as_index=False).quarantined_rows.sum()
            fig.add_trace(go.Bar(x=per_reason.business_date.astype(str).tolist(),
                                 y=per_reason.quarantined_rows.tolist(), name=str(reason)))  # fmt: skip
    fig.update_layout(barmode="stack", title=label("quality_chart", language), **_LAYOUT)
    return fig
