"""The gate every source's partition window passes, whoever runs it (the extraction asset, the operator's
`reprocess` command, the benchmark): extract, land, check, and record the operator's summary."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
from dagster import AssetCheckResult

from orchestration.landing.batch import Landed, ensure_landing, extract_batches, land_batches
from orchestration.landing.tables import LANDING_BY_SHAPE
from orchestration.periods import Window
from orchestration.quality.checks import GX_LANDING, evaluate_extraction
from orchestration.quality.gx import GreatExpectations
from orchestration.quality.summary import summary_frame, write_summary
from orchestration.reference.catalogue import Catalogue
from orchestration.sources.config import SourceConfig
from orchestration.warehouse import Warehouse


@dataclass
class GateOutcome:
    extract: Landed  # the counts: received, accepted, quarantined (per reason)
    log: pd.DataFrame  # rows per partition, as written to the extraction log
    checks: list[AssetCheckResult]
    summary: pd.DataFrame  # the rows written to quality_summary
    seconds: dict[str, float] = field(default_factory=dict)  # per stage: extract, land, checks

    @property
    def quarantine_reasons(self) -> dict[str, int]:
        return dict(sorted(self.extract.reasons.items(), key=lambda item: -item[1]))


def extract_and_check(
    warehouse: Warehouse,
    cfg: SourceConfig,
    window: Window,
    catalogue: Catalogue,
    gx: GreatExpectations | None = None,
) -> GateOutcome:
    """Land the source's window in place of its previous load and evaluate the blocking checks on what
    landed (with the source's Great Expectations suite when `gx` is given)."""
    ensure_landing(warehouse)
    # Read, normalised and loaded batch by batch: only one batch of the window is in memory at a time.
    result = land_batches(warehouse, cfg.name, cfg.shape, window, extract_batches(cfg, window, catalogue))
    landed = time.perf_counter()
    checks, counts, by_reason = evaluate_extraction(warehouse, cfg, window)
    if gx is not None:
        outcome = gx.validate(
            warehouse,
            gx.suite_for_source(cfg.name, cfg.shape),
            f"{warehouse.landing_schema}.{LANDING_BY_SHAPE[cfg.shape].name}",
            window.partition_filter(cfg.name),
            batch=f"landing__{cfg.name}",
        )
        checks.insert(0, outcome.check_result(GX_LANDING))
    summary = summary_frame(cfg, counts, by_reason, checks)
    write_summary(warehouse, window, summary, cfg.name)
    seconds = {**result.seconds, "checks": time.perf_counter() - landed}
    return GateOutcome(result, result.log, checks, summary, seconds)
