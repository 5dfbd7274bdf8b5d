"""One asset per declared source system: extract a range of day partitions and land it in one go."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.catalog import load_catalogue
from orchestration.partitions import daily_partitions
from orchestration.quality.checks import GX_LANDING, evaluate_extraction, extraction_check_specs
from orchestration.quality.gx import GreatExpectations, suite_for_source
from orchestration.quality.reconcile import LANDING_TABLE, partition_filter
from orchestration.quality.summary import summary_frame, summary_markdown, write_summary
from orchestration.settings import gx_checks_enabled, pipeline_settings
from orchestration.sources.config import SourceConfig, load_sources
from orchestration.sources.extract import extract, land
from orchestration.sources.window import Window
from orchestration.warehouse import Warehouse


def window_of(context: AssetExecutionContext) -> Window:
    tw = context.partition_time_window
    tz = pipeline_settings().business_time_zone
    return Window(tw.start.astimezone(tz), tw.end.astimezone(tz))


def extraction_asset(cfg: SourceConfig) -> AssetsDefinition:
    key = AssetKey(["landing", cfg.name])
    with_gx = gx_checks_enabled()

    @asset(
        key=key,
        group_name="extraction",
        partitions_def=daily_partitions,
        # A range backfill is one run reading the range once (e.g. one pass over a history file).
        backfill_policy=BackfillPolicy.single_run(),
        kinds={cfg.kind, "python"},
        description=f"{cfg.kind} source `{cfg.name}` ({cfg.shape}), landed per day partition.",
        metadata={"shape": cfg.shape, "time_zone": cfg.time_zone},
        pool="warehouse",
        # Blocking: a partition that does not reconcile, quarantines too much or comes from a feed that
        # stopped delivering stops the marts downstream.
        check_specs=extraction_check_specs(key, with_gx, cfg.freshness_checked),
    )
    def _extract(context: AssetExecutionContext, warehouse: Warehouse, gx: GreatExpectations) -> MaterializeResult:
        window = window_of(context)
        warehouse.ensure_landing()
        result = extract(cfg, window, load_catalogue())
        log = land(warehouse, result, window)
        reasons = result.quarantine.reason_code.value_counts().to_dict() if len(result.quarantine) else {}
        context.log.info(
            f"{cfg.name}: {result.received} rows received, {result.accepted} accepted, "
            f"{len(result.quarantine)} quarantined over {len(window.days)} day(s)"
        )
        checks, counts, by_reason = evaluate_extraction(warehouse, cfg, window)
        if with_gx:
            outcome = gx.validate(
                warehouse,
                suite_for_source(cfg.name, cfg.shape),
                f"{warehouse.landing_schema}.{LANDING_TABLE[cfg.shape]}",
                partition_filter(cfg.name, window.days),
                batch=f"landing__{cfg.name}",
            )
            checks.insert(0, outcome.check_result(GX_LANDING))
        summary = summary_frame(cfg, counts, by_reason, checks)
        write_summary(warehouse, window.days, summary, cfg.name)
        return MaterializeResult(
            metadata={
                "rows_received": result.received,
                "rows_accepted": result.accepted,
                "rows_quarantined": len(result.quarantine),
                "quarantine_reasons": reasons,
                "days": len(log),
                "data_quality": MetadataValue.md(summary_markdown(summary)),
            },
            check_results=checks,
        )

    return _extract


def extraction_assets() -> list[AssetsDefinition]:
    return [extraction_asset(cfg) for cfg in load_sources()]


def extraction_keys_by_shape() -> dict[str, list[list[str]]]:
    keys: dict[str, list[list[str]]] = {"intervals": [], "status_history": []}
    for cfg in load_sources():
        keys[cfg.shape].append(["landing", cfg.name])
    return keys
