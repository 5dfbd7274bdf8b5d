"""The dbt project as Dagster assets, split by partitioning: reference views and dimensions
(unpartitioned), the base table and daily results, weekly results, monthly results.

Each partitioned set passes its window to dbt in environment variables read at execution time
(`Window.dbt_env`; --vars would make dbt re-parse the project on every run) and uses a single-run
backfill policy, so a backfill of any range is one dbt invocation. Its assets are the marts; the
intermediate tables its marts read are built in the same invocation without being assets (InternalModels).
"""

import json
from collections.abc import Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, BackfillPolicy, Failure
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from dagster_dbt.asset_utils import DAGSTER_DBT_UNIQUE_ID_METADATA_KEY, default_description_fn
from dagster_dbt.utils import select_unique_ids

from orchestration.assets.period_metadata import with_period_metadata
from orchestration.dbt_project import (
    ASSET_MODELS,
    BASE_MODELS,
    INTERNAL_MODELS,
    PERIOD_TAGS,
    REFERENCE_EXCLUDE,
    ensure_manifest,
    is_internal,
    within,
)
from orchestration.dbt_runner import InProcessDbt, environment
from orchestration.landing.tables import EXTRACTION_LOG, INTERVAL_RUNS, QUARANTINE, STATUS_EVENTS
from orchestration.periods import Partitions, Window
from orchestration.quality.held import held_partitions, refusal
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse, keeps_duckdb_open


class Translator(DagsterDbtTranslator):
    """Landing tables written by several extraction assets become dependencies on those assets, and a
    dependency on an intermediate table (not an asset, InternalModels) becomes one on what that table reads."""

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
        through = {
            super(Translator, self).get_asset_spec(manifest, parent, project).key: parent
            for parent in manifest["parent_map"].get(unique_id, [])
            if parent in manifest["nodes"] and is_internal(manifest["nodes"][parent])
        }
        deps: dict[AssetKey, Any] = {}
        for dep in spec.deps:
            if dep.asset_key in self._fan_out:
                deps.update((key, key) for key in self._fan_out[dep.asset_key])
            elif dep.asset_key in through:
                internal = self.get_asset_spec(manifest, through[dep.asset_key], project)
                deps.update((d.asset_key, d) for d in internal.deps)
            else:
                deps[dep.asset_key] = dep
        tags = manifest["nodes"].get(unique_id, {}).get("tags", [])
        group = "results" if {f"tag:{t}" for t in tags} & set(PERIOD_TAGS.values()) else "warehouse"
        return spec.replace_attributes(deps=list(deps.values()), group_name=group)


class InternalModels:
    """The intermediate tables of one partitioned set (its dbt selection under models/intermediate). A step
    builds, with their data tests, those next to its selected assets, directly or through one another: the
    tables its marts read, and the tables that read what it rebuilds, which other sets read too
    (work_order_status_weekly reads the daily set's int_node_runs__sequenced, kept with fct_node_runs)."""

    def __init__(self, manifest: Mapping[str, Any], selection: str) -> None:
        self._nodes, self._parents, self._children = manifest["nodes"], manifest["parent_map"], manifest["child_map"]
        selected = select_unique_ids(within(selection, INTERNAL_MODELS), "", "", None, manifest)
        self.models = {unique_id for unique_id in selected if is_internal(self._nodes[unique_id])}

    def next_to(self, unique_ids: Iterable[str]) -> set[str]:
        """The internal models these nodes read or are read by, and the data tests on them."""
        needed: set[str] = set()
        todo = list(unique_ids)
        while todo:
            node = todo.pop()
            for neighbour in [*self._parents.get(node, []), *self._children.get(node, [])]:
                if neighbour in self.models and neighbour not in needed:
                    needed.add(neighbour)
                    todo.append(neighbour)
        tests = {child for model in needed for child in self._children.get(model, []) if child.startswith("test.")}
        return needed | tests

    def selection(self, unique_ids: Iterable[str]) -> list[str]:
        """dbt's --select of these nodes, by name (unique within the project, tests included)."""
        names = sorted(self._nodes[unique_id]["name"] for unique_id in unique_ids)
        return ["--select", " ".join(names)] if names else []


def _partitioned(
    name: str, select: str, partitions_def: Any, translator: Translator, settings: Settings, manifest: Path,
    parsed: Mapping[str, Any],
) -> AssetsDefinition:  # fmt: skip
    internal = InternalModels(parsed, select)

    @dbt_assets(
        manifest=manifest,
        select=within(select, ASSET_MODELS),
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
        assets = [context.assets_def.get_asset_spec(key).metadata[DAGSTER_DBT_UNIQUE_ID_METADATA_KEY]
                 for key in context.selected_asset_keys]  # fmt: skip
        built = internal.next_to(assets)
        with environment(window.dbt_env()):  # dbt runs in this process, within the call (InProcessDbt)
            invocation = dbt.cli(["build", *internal.selection(built)], context=context, unreported=built)
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

    parsed = json.loads(manifest.read_text(encoding="utf-8"))  # once, for the three sets' InternalModels
    partitioned = partial(_partitioned, translator=translator, settings=settings, manifest=manifest, parsed=parsed)
    return {
        "reference": dbt_reference_models,
        "daily": partitioned("dbt_daily_models", f"{BASE_MODELS} {PERIOD_TAGS['day']}", partitions.daily),
        "weekly": partitioned("dbt_weekly_models", PERIOD_TAGS["week"], partitions.weekly),
        "monthly": partitioned("dbt_monthly_models", PERIOD_TAGS["month"], partitions.monthly),
    }
