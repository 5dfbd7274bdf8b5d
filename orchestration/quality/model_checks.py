"""Great Expectations checks on the dbt models: the base table and each mart, validated against their
suite (expectations/) for the rows of the run's partition window, right after dbt built them."""

from datetime import date

from dagster import AssetCheckExecutionContext, AssetChecksDefinition, AssetKey, asset_check

from orchestration.partitions import daily_partitions, monthly_partitions, weekly_partitions
from orchestration.quality.gx import GreatExpectations
from orchestration.settings import pipeline_settings
from orchestration.warehouse import Warehouse

GX_CHECK = "gx_suite"
GRAINS = {"daily": daily_partitions, "weekly": weekly_partitions, "monthly": monthly_partitions}
MARTS = ("node_run_states", "work_order_status", "achievement_rates")


def _window(context: AssetCheckExecutionContext) -> tuple[date, date]:
    """The run's partition window as business dates, end exclusive."""
    tz = pipeline_settings().business_time_zone
    window = context.op_execution_context.partition_time_window
    return window.start.astimezone(tz).date(), window.end.astimezone(tz).date()


def _where(model: str, first: date, end: date) -> str:
    if model == "fct_node_runs":
        # The runs open at some moment of the window (bounds as UTC midnights: scoping, not judging).
        return f"open_until >= cast('{first}' as timestamp) and start_at < cast('{end}' as timestamp)"
    return f"period_start_date >= cast('{first}' as date) and period_start_date < cast('{end}' as date)"


def _model_check(model: str, suite: str, partitions_def) -> AssetChecksDefinition:
    @asset_check(
        asset=AssetKey(model),
        name=GX_CHECK,
        partitions_def=partitions_def,
        pool="warehouse",
        description=f"Great Expectations suite expectations/{suite}.json on the rows of the partition window.",
    )
    def _check(context: AssetCheckExecutionContext, warehouse: Warehouse, gx: GreatExpectations):
        first, end = _window(context)
        outcome = gx.validate(
            warehouse, suite, f"{warehouse.schema_name}.{model}", _where(model, first, end), batch=model
        )
        return outcome.check_result(GX_CHECK)

    return _check


def model_checks() -> list[AssetChecksDefinition]:
    checks = [_model_check("fct_node_runs", "fct_node_runs", daily_partitions)]
    for grain, partitions_def in GRAINS.items():
        checks += [_model_check(f"{mart}_{grain}", mart, partitions_def) for mart in MARTS]
    return checks
