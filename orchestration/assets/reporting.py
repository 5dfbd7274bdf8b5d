"""The reporting layer as Dagster assets: the dbt views of dbt_project/models/reporting (tag reporting),
rebuilt as the last step of every job, then the read-only DuckDB snapshot published from them.

Rebuilt every time, not once: on PostgreSQL, dbt replaces a table (a dimension in the reference job,
open_run_states) by renaming it away and dropping it with `cascade`, which drops the views on it; and a
view on DuckDB binds the marts that existed when it was created (macros/reporting/period_marts.sql), so a
grain built for the first time joins at the next rebuild. Creating four views takes milliseconds.
"""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition, AssetSpec, Output
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.assets.dbt import Translator
from orchestration.dbt_project import MANIFEST, REPORTING_TAG
from orchestration.reporting.snapshot import publish_snapshot, snapshot_path
from orchestration.warehouse import Warehouse


class _ReportingTranslator(Translator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> AssetSpec:
        return super().get_asset_spec(manifest, unique_id, project).replace_attributes(group_name="reporting")


def reporting_models(extraction: list[AssetsDefinition]) -> AssetsDefinition:
    """Unpartitioned, in every job after its other assets (the views depend on what each job builds)."""

    @dbt_assets(
        manifest=MANIFEST,
        select=REPORTING_TAG,
        # The views' dbt tests are not run by the jobs (below), so they are not the jobs' asset checks either:
        # a check planned in every run and never evaluated would read as missing in the UI.
        dagster_dbt_translator=_ReportingTranslator(
            extraction, DagsterDbtTranslatorSettings(enable_asset_checks=False)
        ),
        name="dbt_reporting_models",
        pool="warehouse",
    )
    def dbt_reporting_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
        # A dbt process, not dbt in this one: dbt-duckdb keeps the database open in the process that ran it,
        # and the next job's dbt process (the in-process runner: demo, backfills, tests) would wait for it.
        # `run`, not `build`: the views' tests read every period of every grain, a cost that would grow
        # with history in each daily run; they run in CI and on demand (`dbt test --select tag:reporting`).
        events = list(dbt.cli(["run"], context=context).stream())
        copied = publish_snapshot(warehouse) or {}
        if copied:
            context.log.info(f"read-only snapshot {snapshot_path(warehouse)}: {sum(copied.values())} rows in "
                             f"{len(copied)} tables")  # fmt: skip
        for event in events:
            name = event.output_name.rsplit("__", 1)[-1] if isinstance(event, Output) else ""
            copy = f"{warehouse.reporting_schema}.{name}"
            yield event.with_metadata({**event.metadata, "snapshot_rows": copied[copy]}) if copy in copied else event

    return dbt_reporting_models
