from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, multi_asset

from orchestration.reference import load_reference
from orchestration.warehouse import Warehouse

REFERENCE_TABLES = ("processes", "nodes", "commitments", "calendar_versions", "calendar_days", "business_periods")


@multi_asset(
    specs=[
        AssetSpec(["landing", table], group_name="reference", kinds={"python"}, description=doc)
        for table, doc in zip(
            REFERENCE_TABLES,
            (
                "The process catalogue (config/processes.yaml).",
                "Nodes with their owning department and position.",
                "Validated, versioned commitments (config/commitments.yaml), instants in UTC.",
                "Versions of the business calendars (config/calendars.yaml).",
                "Cumulative working time per calendar version and UTC day, for business-clock durations.",
                "Days, ISO weeks and months with bounds drawn in the business time zone.",
            ),
            strict=True,
        )
    ],
    pool="warehouse",
)
def reference_tables(context: AssetExecutionContext, warehouse: Warehouse):
    """Validate config/ and publish it to the warehouse; an invalid commitment fails here, by name."""
    warehouse.ensure_landing()
    counts = load_reference(warehouse)
    for table in REFERENCE_TABLES:
        yield MaterializeResult(asset_key=["landing", table], metadata={"rows": counts[table]})
