"""The monthly reports' charts as static SVG inlined in the page (pygal). A report then opens anywhere, offline
and without running a script (a mail client's preview too), and weighs tens of KB where plotly.js inline cost
3.5 MB a file. The dashboard, a served app, keeps its interactive plotly charts (charts.py); these draw the same
series with the same labels and colours.

pygal over matplotlib: a chart costs about 15 ms to build against 50-100 ms (measured on the reports of a
49-month backfill, where the charts are most of the step), and its text stays text: the reader's browser draws
the Chinese with its own fonts, nothing is embedded."""

from __future__ import annotations

from math import ceil, floor
from typing import Any
from unicodedata import east_asian_width

import pandas as pd
import pygal
from plotly.colors import qualitative
from pygal.style import Style

from orchestration.reports.charts import entity_names
from orchestration.reports.labels import STATE_COLOURS, STATES, label

FONT_FAMILY = '"Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif'
# The dashboard's lines take plotly's default colours in this order: a node looks the same in both.
LINE_COLOURS = tuple(qualitative.Plotly)
WIDTH = 1000  # the viewBox; the page scales the chart to its width
LEGEND_FONT = 13
LABEL_FONT = 12
_STYLE = {
    "font_family": FONT_FAMILY,
    "background": "white",
    "plot_background": "white",
    "foreground": "#444",
    "foreground_strong": "#222",
    "foreground_subtle": "#ddd",
    "title_font_size": 16,
    "legend_font_size": LEGEND_FONT,
    "label_font_size": LABEL_FONT,
    "major_label_font_size": LABEL_FONT,
    "value_font_size": 12,
    # Light solid guides and 2 px lines, as on the dashboard's charts (plotly_white).
    "guide_stroke_color": "#e5e5e5",
    "major_guide_stroke_color": "#e5e5e5",
    "guide_stroke_dasharray": "none",
    "major_guide_stroke_dasharray": "none",
    "stroke_width": "2",
    "opacity": "0.9",
    "opacity_hover": "1",
    "transition": "0ms",
}


def _em(text: str) -> float:
    """The width of `text` in em. pygal reckons 0.6 em a character, right for Latin text only: a Chinese
    character is 1 em, so its margins and legend columns are sized from this instead."""
    return sum(1.0 if east_asian_width(c) in "WF" else 0.6 for c in text)


def _legend(names: list[str], plot_width: float) -> dict[str, Any]:
    """As many legend columns below the chart as the longest name allows, and the rows' height pygal leaves
    out (it counts whole rows only)."""
    if not names:
        return {"show_legend": False}
    column = max(_em(n) for n in names) * LEGEND_FONT + 30  # the colour box and a gap
    columns = max(1, min(len(names), floor(plot_width / column)))
    missing = ceil(len(names) / columns) - max(len(names) // columns, 1)
    return {"legend_at_bottom_columns": columns, "margin_bottom": 20 + missing * 1.5 * LEGEND_FONT}


def _static(root: Any) -> Any:
    """Without what only pygal's tooltip script uses: the page runs no script. Its configuration is dead weight,
    and its legend ids (`activate-serie-<n>`) would repeat in each chart of the page."""
    for parent in list(root.iter()):
        for child in [c for c in parent if str(c.tag).endswith("script")]:
            parent.remove(child)
        if parent.get("id", "").startswith("activate-serie"):
            del parent.attrib["id"]
    return root


def _chart(kind: type, chart_id: str, colours: tuple[str, ...], language: str, **config: Any) -> Any:
    chart = kind(
        style=Style(colors=colours, **_STYLE), width=WIDTH, js=[], legend_at_bottom=True, truncate_legend=-1,
        truncate_label=-1, disable_xml_declaration=True, no_data_text=label("no_data", language), **config,
    )  # fmt: skip
    chart.uuid = chart_id.removeprefix("chart-")  # pygal's <svg> id is "chart-<uuid>": stable, unique on the page
    chart.add_xml_filter(_static)
    return chart


def rate_trend(rates: pd.DataFrame, by: str, language: str, chart_id: str, title: str | None = None) -> str:
    """The achievement rate of each entity over the periods (one line each), an <svg> element."""
    names: list[str] = []
    if not rates.empty:
        rates = rates.assign(_name=entity_names(rates, by, language).astype(str))
        # Periods are categories in date order; a period without a rate leaves a gap in that line.
        wide = rates.groupby(["period_start_date", "_name"]).achievement_rate.first().unstack("_name")
        periods = rates.drop_duplicates("period_start_date").set_index("period_start_date").period_label
        names = sorted(wide.columns)
    legend = _legend(names, WIDTH - 100)
    chart = _chart(pygal.Line, chart_id, LINE_COLOURS, language, title=title or label("trend", language),
                   height=320 + 22 * ceil(len(names) / legend.get("legend_at_bottom_columns", 1)),
                   range=(0, 1.05), y_labels=[0, 0.2, 0.4, 0.6, 0.8, 1], allow_interruptions=True,
                   value_formatter=lambda v: f"{v:.0%}", **legend)  # fmt: skip
    if names:
        chart.x_labels = periods.reindex(wide.index).tolist()
        for name in names:
            chart.add(name, [None if pd.isna(v) else float(v) for v in wide[name]])
    return chart.render(is_unicode=True)


def states_bar(rates: pd.DataFrame, by: str, language: str, chart_id: str, title: str | None = None) -> str:
    """The seven states of each entity's runs in one period, stacked horizontal bars (counts), an <svg>
    element; the first entity at the bottom, as on the dashboard."""
    names = [str(n) for n in entity_names(rates, by, language)] if not rates.empty else []
    states = [label(s, language) for s in STATES]
    # The names stand left of the bars: widen pygal's margin by what its 0.6 em a character leaves out.
    label_width = max((_em(n) for n in names), default=0) * LABEL_FONT
    missing = max((_em(n) - 0.6 * len(n) for n in names), default=0) * LABEL_FONT
    legend = _legend(states, WIDTH - 80 - label_width) if names else {"show_legend": False}
    rows = ceil(len(STATES) / legend.get("legend_at_bottom_columns", len(STATES)))
    chart = _chart(pygal.HorizontalStackedBar, chart_id, tuple(STATE_COLOURS[s] for s in STATES), language,
                   title=title or label("states_bar", language), margin_left=20 + missing,
                   height=max(300, 60 + 32 * len(names)) + 22 * rows,
                   value_formatter=lambda v: f"{v:,.0f}", **legend)  # fmt: skip
    if names:
        chart.x_labels = names
        for state, title_of_state in zip(STATES, states, strict=True):
            chart.add(title_of_state, rates[state].astype(int).tolist())
    return chart.render(is_unicode=True)
