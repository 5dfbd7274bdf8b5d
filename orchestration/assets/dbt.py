"""The dbt project as Dagster assets, split by partitioning: reference views and dimensions
(unpartitioned), the base table and daily results, weekly results, monthly results.

Each partitioned set passes its window to dbt in environment variables read at execution time
(`Window.dbt_env`; --vars would make dbt re-parse the project on every run) and uses a single-run
backfill policy, so a backfill of any range is one dbt invocation.
"""

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, BackfillPolicy, Failure
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from dagster_dbt.asset_utils import default_description_fn

from orchestration.assets.period_metadata import with_period_metadata
from orchestration.dbt_project import BASE_MODELS, PERIOD_TAGS, REFERENCE_EXCLUDE, ensure_manifest
from orchestration.dbt_runner import InProcessDbt, environment
from orchestration.landing.tables import EXTRACTION_LOG, INTERVAL_RUNS, QUARANTINE, STATUS_EVENTS
from orchestration.periods import Partitions, Window
from orchestration.quality.held import held_partitions, refusal
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse, keeps_duckdb_open


class Translator(DagsterDbtTranslator):
    """Landing tables written by several extraction assets become dependencies on those assets."""

    def __init__(
        self, extraction: list[AssetsDefinition], settings: DagsterDbtTranslatorSettings | None = None
    ) -> None:
        super().__init__(settings)
        shapes: dict[str, list[AssetKey]] = {"intervals": [], "status_history": []}
        for assets_def in extraction:
            shapes[assets_def.metadata_by_key[assets_def.key]["shape"]].append(assets_def.key)
        every = shapes["intervals"] + shapes["status_history"]
        self._fan_out = {
            AssetKey(["landing", INTERVAL_RUNS.name]): shapes["intervals"],
            AssetKey(["landing", STATUS_EVENTS.name]): shapes["status_history"],
            AssetKey(["landing", QUARANTINE.name]): every,
            AssetKey(["landing", EXTRACTION_LOG.name]): every,
        }

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        # The YAML description only: dagster-dbt appends the raw SQL, which for most models is one macro
        # call ({{ achievement_rates('day', ...) }}) and tells a reader of the UI nothing.
        return default_description_fn(dbt_resource_props, display_raw_sql=False)

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        deps = []
        for dep in spec.deps:
            if dep.asset_key in self._fan_out:
                deps.extend(self._fan_out[dep.asset_key])
            else:
                deps.append(dep)
        tags = manifest["nodes"].get(unique_id, {}).get("tags", [])
        group = "results" if {f"tag:{t}" for t in tags} & set(PERIOD_TAGS.values()) else "warehouse"
        return spec.replace_attributes(deps=deps, group_name=group)


def _partitioned(
    name: str, select: str, partitions_def: Any, translator: Translator, settings: Settings, manifest: Path
) -> AssetsDefinition:
    @dbt_assets(
        manifest=manifest,
        select=select,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        dagster_dbt_translator=translator,
        name=name,
        pool="warehouse",
    )
    @keeps_duckdb_open
    def _models(context: AssetExecutionContext, dbt: InProcessDbt, warehouse: Warehouse):
        window = Window.from_context(context, settings.business_time_zone)
        held = held_partitions(warehouse, window.last_day)
        if len(held):
            what = f"{name} for {window.first_day}..{window.last_day}"
            raise Failure(description=refusal(held, what), allow_retries=False)
        with environment(window.dbt_env()):  # dbt runs in this process, within the call (InProcessDbt)
            invocation = dbt.cli(["build"], context=context)
        yield from with_period_metadata(invocation.stream(), warehouse, window, name)

    return _models


def dbt_asset_sets(settings: Settings, extraction: list[AssetsDefinition]) -> dict[str, AssetsDefinition]:
    """reference (unpartitioned views and dimensions), daily (base table and day results), weekly, monthly."""
    manifest = ensure_manifest()
    translator = Translator(extraction)
    partitions = Partitions.of(settings)

    @dbt_assets(
        manifest=manifest,
        select="fqn:*",
        exclude=REFERENCE_EXCLUDE,
        dagster_dbt_translator=translator,
        name="dbt_reference_models",
        pool="warehouse",
    )
    @keeps_duckdb_open
    def dbt_reference_models(context: AssetExecutionContext, dbt: InProcessDbt, warehouse: Warehouse):
        yield from dbt.cli(["build"], context=context).stream()

    partitioned = partial(_partitioned, translator=translator, settings=settings, manifest=manifest)
    return {
        "reference": dbt_reference_models,
        "daily": partitioned("dbt_daily_models", f"{BASE_MODELS} {PERIOD_TAGS['day']}", partitions.daily),
        "weekly": partitioned("dbt_weekly_models", PERIOD_TAGS["week"], partitions.weekly),
        "monthly": partitioned("dbt_monthly_models", PERIOD_TAGS["month"], partitions.monthly),
    }
