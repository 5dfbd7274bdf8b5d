"""The runner's runs log a step's materialisation once per asset on the console, not once per partition,
while the instance still stores every partition's (orchestration/console_log.py)."""

from __future__ import annotations

import pytest


def test_a_ranged_run_writes_one_materialisation_line_per_asset(capfd: pytest.CaptureFixture[str]) -> None:
    from dagster import (
        AssetKey,
        BackfillPolicy,
        DagsterInstance,
        DailyPartitionsDefinition,
        Definitions,
        asset,
        define_asset_job,
    )

    from orchestration.console_log import console_logger
    from orchestration.runner import JobRun, execute

    days = DailyPartitionsDefinition("2024-01-01")
    policy = BackfillPolicy.single_run()

    @asset(partitions_def=days, backfill_policy=policy)
    def landed(context) -> None:
        context.log.info("landed %d days", len(context.partition_keys))

    @asset(partitions_def=days, backfill_policy=policy, deps=[landed])
    def judged() -> None:
        return None

    defs = Definitions(
        assets=[landed, judged],
        jobs=[define_asset_job("days_job", selection=[landed, judged], partitions_def=days)],
        loggers={"console": console_logger},
    )
    with DagsterInstance.ephemeral() as instance:
        result = execute(defs, JobRun("days_job", "2024-01-01", "2024-01-10"), instance)
        assert result.success
        for name in ("landed", "judged"):  # stored per partition, as the UI shows them
            assert len(instance.get_materialized_partitions(AssetKey(name))) == 10
    console = capfd.readouterr().err
    assert console.count("ASSET_MATERIALIZATION - Materialized value landed.") == 1
    assert console.count("ASSET_MATERIALIZATION - Materialized value judged.") == 1
    # everything else is still there, at DEBUG: the steps, their outputs, the asset's own log line
    assert console.count("STEP_SUCCESS") == 2 and "DEBUG" in console and "landed 10 days" in console
