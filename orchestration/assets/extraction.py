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

from orchestration.periods import Partitions, Window
from orchestration.quality.checks import extraction_check_specs
from orchestration.quality.gate import extract_and_check
from orchestration.quality.gx import GreatExpectations
from orchestration.quality.summary import summary_markdown
from orchestration.reference.catalogue import load_catalogue
from orchestration.settings import Settings
from orchestration.sources.config import SourceConfig, load_sources
from orchestration.warehouse import Warehouse, keeps_duckdb_open


def extraction_asset(cfg: SourceConfig, settings: Settings, partitions: Partitions) -> AssetsDefinition:
    key = AssetKey(["landing", cfg.name])
    with_gx = settings.great_expectations

    @asset(
        key=key,
        group_name="extraction",
        partitions_def=partitions.daily,
        # A range backfill is one run reading the range once (e.g. one pass over a history file).
        backfill_policy=BackfillPolicy.single_run(),
        kinds={cfg.kind, "python"},
        description=f"{cfg.kind} source `{cfg.name}` ({cfg.shape}), landed per day partition.",
        metadata={"shape": cfg.shape, "time_zone": cfg.time_zone},
        pool="warehouse",
        # Blocking: a partition that does not reconcile, quarantines too much or comes from a feed that
        # stopped delivering stops the marts downstream.
        check_specs=extraction_check_specs(key, with_gx, cfg.freshness_checked, cfg.volume_checked),
    )
    @keeps_duckdb_open
    def _extract(context: AssetExecutionContext, warehouse: Warehouse, gx: GreatExpectations) -> MaterializeResult:
        window = Window.from_context(context, settings.business_time_zone)
        catalogue = load_catalogue(settings.processes_file)
        gate = extract_and_check(warehouse, cfg, window, catalogue, gx if with_gx else None)
        result = gate.extract
        context.log.info(
            f"{cfg.name}: {result.received} rows received, {result.accepted} accepted, "
            f"{result.quarantined} quarantined over {len(window.days)} day(s)"
        )
        return MaterializeResult(
            metadata={
                "rows_received": result.received,
                "rows_accepted": result.accepted,
                "rows_quarantined": result.quarantined,
                "quarantine_reasons": gate.quarantine_reasons,
                "days": len(gate.log),
                "data_quality": MetadataValue.md(summary_markdown(gate.summary)),
                # Where the step's time went (benchmarks/jobs.py splits a run's time by stage with these).
                **{f"seconds_{stage}": round(seconds, 3) for stage, seconds in gate.seconds.items()},
            },
            check_results=gate.checks,
        )

    return _extract


def extraction_assets(settings: Settings) -> list[AssetsDefinition]:
    partitions = Partitions.of(settings)
    return [extraction_asset(cfg, settings, partitions) for cfg in load_sources(settings)]
