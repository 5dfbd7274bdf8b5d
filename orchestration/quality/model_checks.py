"""Great Expectations checks on the dbt models: the base table and each mart, validated against their
suite (expectations/) for the rows of the run's partition window, right after dbt built them."""

from dagster import AssetCheckExecutionContext, AssetChecksDefinition, AssetKey, asset_check

from orchestration.periods import Partitions, Window
from orchestration.quality.gx import GreatExpectations
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse, keeps_duckdb_open

GX_CHECK = "gx_suite"
MARTS = ("node_run_states", "work_order_status", "achievement_rates")


def window_rows(model: str, window: Window) -> str:
    """SQL: the rows of `model` a run for `window` built."""
    first, end = window.first_day, window.end_day
    if model == "fct_node_runs":
        # The runs open at some moment of the window (bounds as UTC midnights: scoping, not judging).
        return f"open_until >= cast('{first}' as timestamp) and start_at < cast('{end}' as timestamp)"
    return f"period_start_date >= cast('{first}' as date) and period_start_date < cast('{end}' as date)"


def _model_check(model: str, suite: str, partitions_def, settings: Settings) -> AssetChecksDefinition:
    @asset_check(
        asset=AssetKey(model),
        name=GX_CHECK,
        partitions_def=partitions_def,
        pool="warehouse",
        description=f"Great Expectations suite expectations/{suite}.json on the rows of the partition window.",
    )
    @keeps_duckdb_open
    def _check(context: AssetCheckExecutionContext, warehouse: Warehouse, gx: GreatExpectations):
        window = Window.from_context(context, settings.business_time_zone)
        outcome = gx.validate(
            warehouse, suite, f"{warehouse.schema_name}.{model}", window_rows(model, window), batch=model
        )
        return outcome.check_result(GX_CHECK)

    return _check


def model_checks(settings: Settings) -> list[AssetChecksDefinition]:
    partitions = Partitions.of(settings)
    checks = [_model_check("fct_node_runs", "fct_node_runs", partitions.daily, settings)]
    for grain, partitions_def in partitions.by_grain().items():
        checks += [_model_check(f"{mart}_{grain}", mart, partitions_def, settings) for mart in MARTS]
    return checks
