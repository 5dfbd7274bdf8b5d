"""What the Dagster UI shows on each materialisation of a period mart: the rows the run wrote for its
periods and, on the achievement-rate marts, the achievement rate of those periods (level `all`, the
whole business), so a partition's page answers "how did we do" without a query.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from dagster import MetadataValue, Output

from orchestration.periods import Window
from orchestration.quality.checks import markdown_table
from orchestration.warehouse import Warehouse

PERIOD_MARTS = ("node_run_states", "work_order_status", "achievement_rates")
# The partitioned dbt asset sets of orchestration/assets/dbt.py and the suffix of their marts.
SUFFIX_OF = {"dbt_daily_models": "daily", "dbt_weekly_models": "weekly", "dbt_monthly_models": "monthly"}
# A range run's Output metadata is copied into the event of every partition of the range, so a table of every
# period grows as periods squared: 53 KB per event and 80 MB of event log for a 1,492-day backfill. The latest
# periods are what a partition page is read for; the mart has the rest.
RATE_TABLE_PERIODS = 31


def with_period_metadata(events: Iterable[Any], warehouse: Warehouse, window: Window, asset_set: str) -> Iterator[Any]:
    """The dbt events, each period mart's Output with its rows and rate of the window added. Read once dbt
    has finished: on DuckDB the dbt process holds the file until then, and a query from here would wait for
    it while dbt waits for its output to be read."""
    marts = {f"{mart}_{SUFFIX_OF[asset_set]}" for mart in PERIOD_MARTS}
    for event in list(events):
        if isinstance(event, Output) and event.output_name in marts:
            extra = _metadata(warehouse, event.output_name, window)
            event = event.with_metadata({**event.metadata, **extra})
        yield event


def _metadata(warehouse: Warehouse, model: str, window: Window) -> dict[str, Any]:
    relation = f"{warehouse.schema_name}.{model}"
    periods = f"period_start_date >= '{window.first_day}' and period_start_date < '{window.end_day}'"
    rows = int(warehouse.query(f"select count(*) as n from {relation} where {periods}").n.iloc[0])
    out: dict[str, Any] = {"rows_in_periods": rows}
    if not model.startswith("achievement_rates_"):
        return out
    rates = warehouse.query(
        "select period_id, evaluated_runs, completed_normal + in_progress_normal as normal_runs, achievement_rate "
        f"from {relation} where grouping_level = 'all' and {periods} order by period_id"
    )
    evaluated, normal = int(rates.evaluated_runs.sum()), int(rates.normal_runs.sum())
    out["evaluated_runs"] = evaluated
    if evaluated:
        # Weighted over the window's periods: normal over evaluated, never the mean of the rates.
        out["achievement_rate"] = MetadataValue.float(normal / evaluated)
    if len(rates) > 1:
        shown = rates[["period_id", "evaluated_runs", "achievement_rate"]].round({"achievement_rate": 4})
        table = markdown_table(shown.tail(RATE_TABLE_PERIODS))
        if len(shown) > RATE_TABLE_PERIODS:
            table += f"\n\nThe latest {RATE_TABLE_PERIODS} of {len(shown):,} periods; all are in `{model}`."
        out["achievement_rate_by_period"] = MetadataValue.md(table)
    return out
