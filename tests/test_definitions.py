"""What `dagster dev` shows: one Definitions with every source, the dbt models, jobs and schedules."""

from __future__ import annotations

from dagster import AssetKey

from orchestration.definitions import build_defs
from tests.conftest import project_settings


def test_definitions_load_with_every_declared_source() -> None:
    defs = build_defs(project_settings())
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for source in ("oa_workflow", "settlement_files", "ticket_api", "helpdesk"):
        assert f"landing/{source}" in keys
    for model in ("fct_node_runs", "node_run_states_daily", "work_order_status_weekly", "achievement_rates_monthly"):
        assert model in keys
    # the base table waits for every source's landing
    parents = {k.to_user_string() for k in graph.get(AssetKey("fct_node_runs")).parent_keys}
    assert {"landing/oa_workflow", "landing/settlement_files", "landing/ticket_api", "landing/helpdesk"} <= parents


def test_partitions_and_schedules_in_the_business_time_zone() -> None:
    defs = build_defs(project_settings())
    graph = defs.resolve_asset_graph()
    grains = {
        "landing/ticket_api": "0 0 * * *",
        "fct_node_runs": "0 0 * * *",
        "node_run_states_weekly": "0 0 * * 1",
        "achievement_rates_monthly": "0 0 1 * *",
    }
    for key, cron in grains.items():
        partitions = graph.get(AssetKey.from_user_string(key)).partitions_def
        assert partitions.cron_schedule == cron and partitions.timezone == "Asia/Shanghai"
        assert graph.get(AssetKey.from_user_string(key)).backfill_policy.max_partitions_per_run is None
    schedules = [defs.resolve_schedule_def(s.name) for s in defs.schedules]
    assert {s.job_name: s.cron_schedule for s in schedules} == {
        "daily_job": "30 0 * * *",  # just after each period closes
        "weekly_job": "0 2 * * 1",
        "monthly_job": "0 3 1 * *",
        "monitoring_job": "*/15 * * * *",  # live monitoring (config/alerts.yaml)
    }
    assert all(s.execution_timezone == "Asia/Shanghai" for s in schedules)


def test_monitoring_schedule_runs_the_evaluation_and_never_overlaps() -> None:
    from dagster import DagsterRunStatus, RunRequest, build_schedule_context, instance_for_test

    defs = build_defs(project_settings())
    job = defs.resolve_job_def("monitoring_job")
    steps = ["land_changes", "judge_open_runs", "record_alerts", "deliver_alerts"]
    assert [n.name for n in job.graph.node_defs] == steps
    schedule = defs.resolve_schedule_def("monitoring_schedule")
    with instance_for_test() as instance:
        request = schedule.evaluate_tick(build_schedule_context(instance=instance))
        assert isinstance(request.run_requests[0], RunRequest)
        assert request.run_requests[0].tags["dagster/concurrency_key"] == "monitoring"
        run = instance.create_run_for_job(job, status=DagsterRunStatus.STARTED)
        skipped = schedule.evaluate_tick(build_schedule_context(instance=instance))
        assert not skipped.run_requests and run.run_id in skipped.skip_message


def test_asset_descriptions_are_the_models_docs_not_their_sql() -> None:
    """The UI shows each dbt model's YAML description; most models are one macro call, which tells nothing."""
    defs = build_defs(project_settings())
    graph = defs.resolve_asset_graph()
    for model in (
        "achievement_rates_monthly",
        "node_run_states_daily",
        "reporting/rpt_achievement_rates",
        "dim_processes",
    ):
        description = graph.get(AssetKey.from_user_string(model)).description or ""
        assert description and "{{" not in description and "Raw SQL" not in description
    assert graph.get(AssetKey(["reporting", "rpt_achievement_rates"])).group_name == "reporting"


def test_intermediate_tables_are_not_assets_and_lineage_runs_through_them() -> None:
    """models/intermediate are built by the step of the marts that read them (orchestration/assets/dbt.py):
    no asset, no event per partition, and a mart's parents are what its intermediate tables read."""
    from orchestration.dbt_project import is_internal, read_manifest

    manifest = read_manifest()
    internal = {n["name"] for n in manifest["nodes"].values() if is_internal(n)}
    assert {"int_node_runs__sequenced", "int_work_order_status__daily"} <= internal
    graph = build_defs(project_settings()).resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    assert not {key.path[-1] for key in keys} & internal
    for grain in ("daily", "weekly", "monthly"):
        parents = {k.path[-1] for k in graph.get(AssetKey(f"work_order_status_{grain}")).parent_keys}
        assert parents <= {k.path[-1] for k in keys}  # no dependency on a key nothing materialises
        assert {"fct_node_runs", f"node_run_states_{grain}", "dim_commitments"} <= parents
