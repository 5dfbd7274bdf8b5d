"""The reporting layer as Dagster assets: the dbt views of dbt_project/models/reporting (tag reporting),
made current as the last step of every job, then the read-only DuckDB snapshot published from them.

Every job may move what the views depend on: on PostgreSQL, dbt replaces a table (a dimension in the
reference job, open_run_states) by renaming it away and dropping it with `cascade`, which drops the views on
it; and a view binds the marts that existed when created (macros/reporting/period_marts.sql), so a grain
built for the first time joins at the next rebuild. Most jobs move neither, and a dbt invocation costs a
second for milliseconds of DDL: the step runs dbt only when the views' fingerprint differs from the one
recorded at their last build (orchestration/reporting/views.py). Either way each view is materialised: a
view holds no rows of its own, so after the job it shows the marts the job built, rebuilt or not. The
materialisations say which: dbt's own metadata when dbt rebuilt it (with `rebuilt_because`), `status`
`reused` (dagster-dbt's word for a node dbt left as it was) and `reused_because` otherwise.
"""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition, AssetSpec, Output
from dagster_dbt import DagsterDbtTranslatorSettings, dbt_assets
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets

from orchestration.assets.dbt import Translator
from orchestration.dbt_project import REPORTING_TAG, ensure_manifest
from orchestration.dbt_runner import InProcessDbt
from orchestration.reporting.snapshot import publish_snapshot, snapshot_path
from orchestration.reporting.views import ReportingViews
from orchestration.warehouse import Warehouse, keeps_duckdb_open


class _ReportingTranslator(Translator):
    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> AssetSpec:
        return super().get_asset_spec(manifest, unique_id, project).replace_attributes(group_name="reporting")


def reporting_models(extraction: list[AssetsDefinition]) -> AssetsDefinition:
    """Unpartitioned, in every job after its other assets (the views depend on what each job builds)."""

    @dbt_assets(
        manifest=ensure_manifest(),
        select=REPORTING_TAG,
        # The views' dbt tests are not run by the jobs (below), so they are not the jobs' asset checks either:
        # a check planned in every run and never evaluated would read as missing in the UI.
        dagster_dbt_translator=_ReportingTranslator(
            extraction, DagsterDbtTranslatorSettings(enable_asset_checks=False)
        ),
        name="dbt_reporting_models",
        pool="warehouse",
    )
    @keeps_duckdb_open
    def dbt_reporting_models(context: AssetExecutionContext, dbt: InProcessDbt, warehouse: Warehouse):
        before = views.state(warehouse)
        if before.current:
            context.log.info("the reporting views are as at their last build: dbt not started")
            events = [
                Output(None, output_name=name, metadata={"status": "reused", "reused_because": REUSED})
                for name, key in sorted(context.assets_def.keys_by_output_name.items())
                if key in context.selected_asset_keys
            ]
        else:
            reason = before.why_not_current()
            context.log.info(f"rebuilding the reporting views: {reason}")
            views.forget(warehouse)
            # `run`, not `build`: the views' tests read every period of every grain, a cost that would grow
            # with history in each job; they run in CI and on demand (`dbt test --select tag:reporting`).
            events = [
                event.with_metadata({**event.metadata, "rebuilt_because": reason}) if isinstance(event, Output)
                else event
                for event in dbt.cli(["run"], context=context).stream()
            ]  # fmt: skip
            if context.selected_asset_keys == context.assets_def.keys:
                # a subset built leaves the others as they were: no record
                views.record(warehouse, before)
        # A view reading only marts and dimensions is a view in the snapshot too (over their copies).
        written = publish_snapshot(warehouse, reads=views.reads_by_view(warehouse))
        if written is not None:
            tables = ", ".join(sorted(written)) or "none"
            context.log.info(f"read-only snapshot {snapshot_path(warehouse)}: {sum(written.values())} rows written "
                             f"in {len(written)} relations ({tables}); the others unchanged")  # fmt: skip
        for event in events:
            if written is not None and isinstance(event, Output):
                copy = f"{warehouse.reporting_schema}.{event.output_name.rsplit('__', 1)[-1]}"
                event = event.with_metadata({**event.metadata, "snapshot_rows_written": written.get(copy, 0)})
            yield event

    # The manifest the assets were built from: the views' definition is the one this code version runs.
    views = ReportingViews(get_manifest_and_translator_from_dbt_assets([dbt_reporting_models])[0])
    return dbt_reporting_models


REUSED = (
    "dbt not started: the views' definition, the relations they read and the views in the catalog are as at "
    "their last build (orchestration/reporting/views.py); the views show the marts this run built"
)
