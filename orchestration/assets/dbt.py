"""The dbt project as Dagster assets, split by partitioning: reference views and dimensions
(unpartitioned), the base table and daily results, weekly results, monthly results.

Each partitioned set passes its window to dbt as --vars (the portable way on every adapter) and uses
a single-run backfill policy, so a backfill of any range is one dbt invocation.
"""

import fcntl
import json
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AssetSpec, BackfillPolicy
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.assets.extraction import extraction_keys_by_shape
from orchestration.partitions import daily_partitions, monthly_partitions, weekly_partitions
from orchestration.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR, pipeline_settings

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


def ensure_manifest() -> None:
    """Parse the dbt project when its manifest is missing or older than its sources. A lock keeps
    processes that load the definitions at once (code server, runs, tests) from parsing over each other."""
    sources = [p for d in ("models", "macros", "tests") for p in (DBT_PROJECT_DIR / d).rglob("*") if p.is_file()]
    sources.append(DBT_PROJECT_DIR / "dbt_project.yml")
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    with open(MANIFEST.parent / ".parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if MANIFEST.exists() and MANIFEST.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
            return
        command = [DBT_EXECUTABLE, "parse", "--quiet", "--project-dir", str(DBT_PROJECT_DIR)]
        subprocess.run([*command, "--profiles-dir", str(DBT_PROJECT_DIR)], check=True, cwd=DBT_PROJECT_DIR)


class Translator(DagsterDbtTranslator):
    """Landing tables written by several extraction assets become dependencies on those assets."""

    def __init__(self) -> None:
        super().__init__()
        shapes = extraction_keys_by_shape()
        every = shapes["intervals"] + shapes["status_history"]
        self._fan_out = {
            AssetKey(["landing", "interval_runs"]): shapes["intervals"],
            AssetKey(["landing", "status_events"]): shapes["status_history"],
            AssetKey(["landing", "quarantine"]): every,
            AssetKey(["landing", "extraction_log"]): every,
        }

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        deps = []
        for dep in spec.deps:
            if dep.asset_key in self._fan_out:
                deps.extend(AssetKey(k) for k in self._fan_out[dep.asset_key])
            else:
                deps.append(dep)
        tags = manifest["nodes"].get(unique_id, {}).get("tags", [])
        group = "results" if {f"tag:{t}" for t in tags} & set(PERIOD_TAGS.values()) else "warehouse"
        return spec.replace_attributes(deps=deps, group_name=group)


# The base data table and the pauses beside it (dbt tag `base`): updated per day window, before the day results.
BASE_MODELS = "tag:base"
PERIOD_TAGS = {"day": "tag:period_day", "week": "tag:period_week", "month": "tag:period_month"}
MONITORING_TAG = "tag:monitoring"
# The reference set is everything else; the live current-state models are built by the monitoring job.
REFERENCE_EXCLUDE = f"{BASE_MODELS} {' '.join(PERIOD_TAGS.values())} {MONITORING_TAG}"


def dbt_vars(context: AssetExecutionContext) -> dict[str, str]:
    """The partition window as business-zone dates (end exclusive) and the evaluation cap (now, UTC)."""
    tz = pipeline_settings().business_time_zone
    window = context.partition_time_window
    return {
        "window_start": window.start.astimezone(tz).date().isoformat(),
        "window_end": window.end.astimezone(tz).date().isoformat(),
        "as_of_cap": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }


def _partitioned(name: str, select: str, partitions_def: Any, translator: Translator) -> AssetsDefinition:
    @dbt_assets(
        manifest=MANIFEST,
        select=select,
        partitions_def=partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        dagster_dbt_translator=translator,
        name=name,
        pool="warehouse",
    )
    def _models(context: AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt.cli(["build", "--vars", json.dumps(dbt_vars(context))], context=context).stream()

    return _models


def dbt_asset_sets() -> dict[str, AssetsDefinition]:
    """reference (unpartitioned views and dimensions), daily (base table and day results), weekly, monthly."""
    ensure_manifest()
    translator = Translator()

    @dbt_assets(
        manifest=MANIFEST,
        select="fqn:*",
        exclude=REFERENCE_EXCLUDE,
        dagster_dbt_translator=translator,
        name="dbt_reference_models",
        pool="warehouse",
    )
    def dbt_reference_models(context: AssetExecutionContext, dbt: DbtCliResource):
        yield from dbt.cli(["build"], context=context).stream()

    return {
        "reference": dbt_reference_models,
        "daily": _partitioned("dbt_daily_models", f"{BASE_MODELS} {PERIOD_TAGS['day']}", daily_partitions, translator),
        "weekly": _partitioned("dbt_weekly_models", PERIOD_TAGS["week"], weekly_partitions, translator),
        "monthly": _partitioned("dbt_monthly_models", PERIOD_TAGS["month"], monthly_partitions, translator),
    }
