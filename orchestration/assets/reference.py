"""The reference tables as one Dagster multi-asset: the configuration validated and published."""

from dagster import AssetExecutionContext, AssetsDefinition, AssetSpec, MaterializeResult, multi_asset

from orchestration.landing.batch import ensure_landing
from orchestration.reference.publish import REFERENCE_TABLES, load_reference
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse, keeps_duckdb_open

DESCRIPTIONS = {
    "processes": "The process catalogue (processes.yaml).",
    "nodes": "Nodes with their owning department and position.",
    "commitments": "Validated, versioned commitments (commitments.yaml), instants in UTC.",
    "calendar_versions": "Versions of the business calendars (calendars.yaml).",
    "calendar_days": "Cumulative working time per calendar version and UTC day, for business-clock durations.",
    "business_periods": "Days, ISO weeks and months with bounds drawn in the business time zone.",
}


def reference_assets(settings: Settings) -> AssetsDefinition:
    @multi_asset(
        specs=[
            AssetSpec(["landing", table], group_name="reference", kinds={"python"}, description=DESCRIPTIONS[table])
            for table in REFERENCE_TABLES
        ],
        pool="warehouse",
        name="reference_tables",
    )
    @keeps_duckdb_open
    def reference_tables(context: AssetExecutionContext, warehouse: Warehouse):
        """Validate the configuration and publish it to the warehouse; an invalid commitment fails here, by name."""
        ensure_landing(warehouse)
        counts = load_reference(warehouse, settings)
        for table in REFERENCE_TABLES:
            yield MaterializeResult(asset_key=["landing", table], metadata={"rows": counts[table]})

    return reference_tables
