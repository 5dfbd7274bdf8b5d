"""The blocking asset checks of every extraction asset, evaluated per day partition of the run:

- `rows_reconcile`: received = accepted + quarantined per partition, and the landing and quarantine
  tables hold exactly those rows (nothing lost, nothing doubled).
- `quarantine_share`: the quarantined share of each partition against the source's limit (default
  1%, config/pipeline.yaml or `quarantine_limit` in the source). Above it the check fails with ERROR
  severity, which stops everything downstream in the run; quarantined rows below it make it WARN.
- `source_freshness` (orchestration/quality/freshness.py): the source delivered recently enough as of the
  end of the run's window; older than `error_after` blocks like the others.
"""

from __future__ import annotations

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, MetadataValue

from orchestration.periods import Window
from orchestration.quality.freshness import SOURCE_FRESHNESS, evaluate_freshness
from orchestration.quality.reconcile import missing_partitions, partition_counts, quarantine_reasons
from orchestration.quality.volume import VOLUME, judge_volume, volume_check
from orchestration.sources.config import SourceConfig
from orchestration.warehouse import Warehouse

ROWS_RECONCILE = "rows_reconcile"
QUARANTINE_SHARE = "quarantine_share"
GX_LANDING = "gx_landing"
# Partitions listed in check metadata at most (a long backfill would otherwise flood the UI).
SHOWN = 20


# What each blocking check of an extraction asset guards, in the order the UI lists them.
CHECK_DESCRIPTIONS = {
    GX_LANDING: "Great Expectations suite (expectations/landing__<source or shape>.json) on the landed rows.",
    SOURCE_FRESHNESS: "The source's newest delivery at the end of the run's window: warns after warn_after, "
    "fails after error_after (config/pipeline.yaml `freshness`, or the source's own).",
    ROWS_RECONCILE: "Per partition: rows received = accepted + quarantined, and landing holds exactly them.",
    QUARANTINE_SHARE: "Per partition: quarantined share within the source's limit (fails above it, warns below).",
    VOLUME: "Per partition: rows received against the median of the source's previous days (warns far below it; "
    "a day with no rows warns or, with `on_empty: error`, fails).",
}
# Failed checks that leave a partition's landed rows unfit to publish: a later run must not build on them
# until the partition is reprocessed and passes (orchestration/quality/held.py). A stale source
# (freshness) lands nothing wrong, and later deliveries clear it.
HOLDING_CHECKS = (GX_LANDING, ROWS_RECONCILE, QUARANTINE_SHARE, VOLUME)


def extraction_check_specs(
    key: AssetKey, with_gx: bool, with_freshness: bool, with_volume: bool = True
) -> list[AssetCheckSpec]:
    optional = {GX_LANDING: with_gx, SOURCE_FRESHNESS: with_freshness, VOLUME: with_volume}
    return [
        AssetCheckSpec(name, asset=key, blocking=True, description=description)
        for name, description in CHECK_DESCRIPTIONS.items()
        if optional.get(name, True)
    ]


def markdown_table(frame: pd.DataFrame) -> str:
    """A small frame as a markdown table (no extra dependency)."""
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *rows])


def _shown(frame: pd.DataFrame, columns: list[str]) -> MetadataValue:
    extra = f"\n\n… and {len(frame) - SHOWN} more partitions" if len(frame) > SHOWN else ""
    return MetadataValue.md(markdown_table(frame[columns].head(SHOWN)) + extra)


def evaluate_extraction(
    warehouse: Warehouse, cfg: SourceConfig, window: Window
) -> tuple[list[AssetCheckResult], pd.DataFrame, pd.DataFrame]:
    """The checks for the run's partitions, read back from the warehouse after landing.
    Returns the check results, the per-partition counts and the quarantine reasons."""
    counts = partition_counts(warehouse, cfg.name, cfg.shape, window)
    reasons = quarantine_reasons(warehouse, cfg.name, window)
    missing = missing_partitions(counts, window.days)
    unreconciled = counts[~counts.reconciled]
    count_columns = ["partition_date", "rows_received", "rows_accepted", "rows_quarantined", "rows_landed"]
    reconcile_meta: dict[str, object] = {
        "partitions": len(counts),
        "rows_received": int(counts.rows_received.sum()),
        "rows_accepted": int(counts.rows_accepted.sum()),
        "rows_quarantined": int(counts.rows_quarantined.sum()),
        "partitions_not_reconciled": len(unreconciled),
        "partitions_without_log": [d.isoformat() for d in missing[:SHOWN]],
    }
    if len(unreconciled):
        reconcile_meta["not_reconciled"] = _shown(unreconciled, [*count_columns, "rows_in_quarantine"])
    reconcile = AssetCheckResult(
        check_name=ROWS_RECONCILE,
        passed=unreconciled.empty and not missing,
        severity=AssetCheckSeverity.ERROR,
        metadata=reconcile_meta,
    )

    limit = cfg.effective_quarantine_limit
    over = counts[counts.quarantined_share > limit]
    some = counts[counts.rows_quarantined > 0]
    shares = counts.assign(quarantined_share=counts.quarantined_share.round(4))
    share_meta: dict[str, object] = {
        "limit": limit,
        "worst_share": float(counts.quarantined_share.max()) if len(counts) else 0.0,
        "partitions_over_limit": len(over),
        "partitions_with_quarantine": len(some),
    }
    if len(some):
        share_meta["partitions"] = _shown(
            shares[shares.rows_quarantined > 0], [*count_columns[:4], "quarantined_share"]
        )
        by_reason = reasons.groupby("reason_code", as_index=False).rows.sum().sort_values("rows", ascending=False)
        share_meta["quarantined_by_reason"] = MetadataValue.md(markdown_table(by_reason))
    share = AssetCheckResult(
        check_name=QUARANTINE_SHARE,
        passed=some.empty,
        # Above the limit the partition is not fit to publish: ERROR blocks downstream; below it, warn.
        severity=AssetCheckSeverity.ERROR if len(over) else AssetCheckSeverity.WARN,
        metadata=share_meta,
        description=(
            f"{len(over)} partition(s) above the quarantine limit of {limit:.2%}"
            if len(over)
            else f"{len(some)} partition(s) with quarantined rows, within the limit of {limit:.2%}"
            if len(some)
            else "no quarantined rows"
        ),
    )
    checks = [reconcile, share]
    if cfg.freshness_checked:
        checks.append(evaluate_freshness(warehouse, cfg, window))
    # Which partitions fail which check, for the summary: a backfill's bad day must not mark its good days.
    _mark(counts, ROWS_RECONCILE, ~counts.reconciled, ~counts.reconciled)
    _mark(counts, QUARANTINE_SHARE, counts.rows_quarantined > 0, counts.quarantined_share > limit)
    if cfg.volume_checked:
        judged = judge_volume(warehouse, cfg, window)
        checks.append(volume_check(cfg, judged))
        by_day = judged.set_index("partition_date")
        _mark(counts, VOLUME, counts.partition_date.map(by_day.low), counts.partition_date.map(by_day.blocking))
    return checks, counts, reasons


def _mark(counts: pd.DataFrame, check: str, failed: pd.Series, blocking: pd.Series) -> None:
    """Record in `counts` the partitions a per-partition check failed, and those it blocks."""
    counts[f"failed:{check}"] = failed.fillna(False).astype(bool).to_numpy()
    counts[f"blocking:{check}"] = blocking.fillna(False).astype(bool).to_numpy()
