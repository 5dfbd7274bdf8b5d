"""The operator's view: one row per source and day partition in `<schema>_landing.quality_summary`
(rows received, accepted, quarantined by reason, checks passed and failed), and the same as markdown
for the Dagster UI."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity

from orchestration.landing.tables import QUALITY_SUMMARY
from orchestration.periods import Window
from orchestration.quality.checks import markdown_table
from orchestration.sources.config import SourceConfig
from orchestration.warehouse import Warehouse


def summary_frame(
    cfg: SourceConfig, counts: pd.DataFrame, reasons: pd.DataFrame, checks: Sequence[AssetCheckResult]
) -> pd.DataFrame:
    """Per partition of `counts`: the counts, the reasons as JSON, and the run's check outcomes."""
    by_reason = (
        reasons.groupby("partition_date")[["reason_code", "rows"]]
        .apply(lambda g: json.dumps(dict(zip(g.reason_code, g.rows.astype(int), strict=True)), ensure_ascii=False))
        .rename("quarantined_by_reason")
        if len(reasons)
        else pd.Series(dtype="string", name="quarantined_by_reason")
    )
    frame = counts.merge(by_reason, how="left", left_on="partition_date", right_index=True)
    failed, blocking, n_failed = _failures(frame, checks)
    return pd.DataFrame(
        {
            "source_system": cfg.name,
            "partition_date": pd.to_datetime(frame.partition_date).astype("datetime64[us]"),
            "checked_at": pd.Timestamp.now("UTC").tz_localize(None).as_unit("us"),
            "rows_received": frame.rows_received,
            "rows_accepted": frame.rows_accepted,
            "rows_quarantined": frame.rows_quarantined,
            "quarantined_share": frame.quarantined_share.astype("float64"),
            "quarantine_limit": cfg.effective_quarantine_limit,
            "quarantined_by_reason": frame.quarantined_by_reason.fillna("{}").astype("string"),
            "checks_passed": len(checks) - n_failed,
            "checks_failed": n_failed,
            "failed_checks": failed,
            "blocking_failures": blocking,
        }
    )


def _failures(frame: pd.DataFrame, checks: Sequence[AssetCheckResult]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per partition: the checks it failed and those that block it, comma-separated, and how many failed.
    A check judged per partition (`failed:<check>` columns of the counts, orchestration/quality/checks.py)
    marks only its bad partitions; one judged over the window (GX, freshness) marks them all."""
    failed = pd.Series("", index=frame.index)
    blocking = pd.Series("", index=frame.index)
    n_failed = pd.Series(0, index=frame.index)
    for check in checks:
        name = check.check_name
        if f"failed:{name}" in frame:
            fails, blocks = frame[f"failed:{name}"].astype(bool), frame[f"blocking:{name}"].astype(bool)
        else:
            fails = pd.Series(not check.passed, index=frame.index)
            blocks = fails & (check.severity == AssetCheckSeverity.ERROR)
        failed = failed + np.where(fails, ", " + name, "")
        blocking = blocking + np.where(blocks & fails, ", " + name, "")
        n_failed = n_failed + fails.astype(int)
    return failed.str.removeprefix(", "), blocking.str.removeprefix(", "), n_failed


def write_summary(warehouse: Warehouse, window: Window, frame: pd.DataFrame, source_system: str) -> None:
    warehouse.replace_where(QUALITY_SUMMARY.name, window.partition_filter(source_system), frame)


def summary_markdown(frame: pd.DataFrame) -> str:
    shown = frame.assign(
        partition_date=pd.to_datetime(frame.partition_date).dt.date,
        quarantined_share=frame.quarantined_share.map(lambda v: f"{v:.2%}"),
    )[
        [
            "partition_date", "rows_received", "rows_accepted", "rows_quarantined", "quarantined_share",
            "quarantined_by_reason", "checks_passed", "checks_failed", "failed_checks",
        ]
    ]  # fmt: skip
    return markdown_table(shown.tail(31))


def overview(warehouse: Warehouse) -> str:
    """Per source over all partitions in the summary table: rows and partitions with failed checks."""
    if not warehouse.table_exists(warehouse.landing_schema, QUALITY_SUMMARY.name):
        return "data quality: no summary yet"
    frame = warehouse.query(
        f"""
        select source_system, count(*) as partitions, cast(sum(rows_received) as bigint) as received,
            cast(sum(rows_accepted) as bigint) as accepted, cast(sum(rows_quarantined) as bigint) as quarantined,
            cast(sum(case when checks_failed > 0 then 1 else 0 end) as bigint) as partitions_with_failed_checks,
            cast(sum(case when blocking_failures <> '' then 1 else 0 end) as bigint) as partitions_blocked
        from {warehouse.landing_schema}.{QUALITY_SUMMARY.name}
        group by source_system order by source_system
        """
    )
    return "data quality per source (all partitions checked)\n" + frame.to_string(index=False)
