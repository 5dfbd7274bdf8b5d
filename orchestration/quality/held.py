"""Held partitions: a partition whose own run was blocked by a check that leaves its landed rows unfit to
publish (`HOLDING_CHECKS`: too many rows quarantined, counts that do not reconcile, a failed GX suite, no
rows where `on_empty: error`) keeps those rows in landing, where the operator sees them. Nothing may build
on them: every partitioned dbt asset refuses its window while a held partition up to the window's end
remains (a later day's base table and a week's marts read every landed day). Reprocessing the partition
once its source is fixed (`python -m orchestration.quality reprocess`, or rematerialising it) rewrites its
summary; when its checks pass it is no longer held, and the next run converges.

The alternative, landing into a staging area and swapping when the checks pass, would keep the previous
load instead; refusing is simpler to prove: one query over the summary every check already writes."""

from __future__ import annotations

from datetime import date

import pandas as pd

from orchestration.landing.tables import QUALITY_SUMMARY
from orchestration.quality.checks import HOLDING_CHECKS
from orchestration.warehouse import Warehouse

_HOLDING = r"(?:^|, )(?:" + "|".join(HOLDING_CHECKS) + r")(?:,|$)"


def held_partitions(warehouse: Warehouse, up_to: date) -> pd.DataFrame:
    """source_system, partition_date, blocking_failures of every held partition up to `up_to`."""
    columns = ["source_system", "partition_date", "blocking_failures"]
    if not warehouse.table_exists(warehouse.landing_schema, QUALITY_SUMMARY.name):
        return pd.DataFrame(columns=columns)
    frame = warehouse.query(
        f"select {', '.join(columns)} from {warehouse.landing_schema}.{QUALITY_SUMMARY.name} "
        f"where blocking_failures <> '' and partition_date <= '{up_to}' order by partition_date, source_system"
    )
    frame = frame[frame.blocking_failures.str.contains(_HOLDING, regex=True)].reset_index(drop=True)
    frame["partition_date"] = pd.to_datetime(frame.partition_date).dt.date
    return frame


def refusal(held: pd.DataFrame, what: str) -> str:
    """What the operator reads when `what` (an asset and its window) refuses to build on held partitions."""
    shown = "; ".join(
        f"{r.source_system} {r.partition_date} ({r.blocking_failures})" for r in held.head(10).itertuples()
    )
    more = f" and {len(held) - 10} more" if len(held) > 10 else ""
    first = held.iloc[0]
    return (
        f"{what} refused: {len(held)} partition(s) up to its end were blocked by their own checks and not "
        f"reprocessed since, so their landed rows are not fit to publish: {shown}{more}. Fix the source, run "
        f"`python -m orchestration.quality reprocess --source {first.source_system} --partition "
        f"{first.partition_date}` for each, then run this job again."
    )
