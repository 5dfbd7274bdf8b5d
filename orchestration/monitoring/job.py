"""The monitoring job and its schedule (every 15 minutes by default, config/alerts.yaml).

Four ops, each in the `warehouse` pool (DuckDB has one writer): land the changes, judge the open runs
in dbt, record alerts in the outbox, deliver them. A run that dies after recording leaves its alerts
pending for the next run's delivery. Runs never overlap: the schedule skips a tick while an evaluation
is still queued or running, and the run carries a concurrency tag limited to 1 (deploy/dagster*.yaml);
should two run anyway, the outbox's keys and claims keep every alert single.
"""

from datetime import UTC, datetime

from dagster import (
    Config,
    DagsterRunStatus,
    JobDefinition,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    job,
    op,
    schedule,
)

from orchestration.monitoring import outbox
from orchestration.monitoring.config import load_alert_config
from orchestration.monitoring.evaluate import build_current_state, land_increments, utc_text
from orchestration.reporting.snapshot import publish_snapshot
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse, keeps_duckdb_open

JOB_NAME = "monitoring_job"
# One evaluation at a time; and one still running after 15 minutes (its process killed) is failed by the
# daemon's run monitoring (deploy/dagster*.yaml), so it does not hold the warehouse pool from the alerts.
RUN_TAGS = {"dagster/concurrency_key": "monitoring", "dagster/max_runtime": "900"}
ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
          DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]  # fmt: skip


class EvaluationConfig(Config):
    as_of: str | None = None  # ISO instant to evaluate at (replays, the demo); default: now


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def build_monitoring_job(settings: Settings) -> JobDefinition:
    """The four ops over the given settings' sources and alert rules."""

    @op(pool="warehouse", description="Land every source's changes since its cursor.")
    @keeps_duckdb_open
    def land_changes(context: OpExecutionContext, config: EvaluationConfig, warehouse: Warehouse) -> dict[str, str]:
        as_of = _instant(config.as_of) if config.as_of else datetime.now(UTC)
        changed_since, increments = land_increments(warehouse, settings, as_of, load_alert_config(settings))
        for inc in increments:
            what = f"files {list(inc.files)}" if inc.read_from is None else f"since {inc.read_from:%Y-%m-%d %H:%M:%S%z}"
            context.log.info(f"{inc.source_system}: {inc.received} rows ({inc.quarantined} quarantined), {what}")
        return {"as_of": utc_text(as_of), "changed_since": utc_text(changed_since)}

    @op(
        pool="warehouse",
        description="dbt: rebuild the changed work orders, judge the open runs (open_run_states, "
        "rpt_open_runs); publish the read-only DuckDB snapshot.",
    )
    @keeps_duckdb_open
    def judge_open_runs(window: dict[str, str], warehouse: Warehouse) -> dict[str, str]:
        build_current_state(warehouse, _instant(window["changed_since"]), _instant(window["as_of"]))
        # The live view reaches the snapshot's readers too: the two relations this evaluation rebuilt.
        publish_snapshot(warehouse, [f"{warehouse.schema_name}.open_run_states",
                                     f"{warehouse.reporting_schema}.rpt_open_runs"])  # fmt: skip
        return window

    @op(pool="warehouse", description="Record the alerts the open runs raise in the outbox (each once).")
    @keeps_duckdb_open
    def record_alerts(context: OpExecutionContext, window: dict[str, str], warehouse: Warehouse) -> dict[str, str]:
        recorded = outbox.record(warehouse, load_alert_config(settings), _instant(window["as_of"]), context.run_id)
        context.log.info(f"{recorded} new alert deliveries recorded")
        return window

    @op(pool="warehouse", description="Deliver every due alert; retry failed ones later.")
    @keeps_duckdb_open
    def deliver_alerts(context: OpExecutionContext, window: dict[str, str], warehouse: Warehouse) -> None:
        # Wall-clock now, not as_of: retries and claim timeouts are about real time.
        now = max(datetime.now(UTC), _instant(window["as_of"]))
        report = outbox.deliver(warehouse, load_alert_config(settings), now)
        context.log.info(f"delivered {report.delivered}, failed {report.failed} (will retry), dead {report.dead}")
        if report.dead:
            context.log.warning(f"{report.dead} alert deliveries are dead: see alert_outbox where status = 'dead'")

    @job(name=JOB_NAME, tags=RUN_TAGS, description="Live monitoring: judge open runs now, alert once per band.")
    def monitoring_job() -> None:
        deliver_alerts(record_alerts(judge_open_runs(land_changes())))

    return monitoring_job


def monitoring_schedule(settings: Settings, monitoring_job: JobDefinition) -> ScheduleDefinition:
    cfg = load_alert_config(settings).evaluation

    @schedule(
        name="monitoring_schedule",
        job=monitoring_job,
        cron_schedule=cfg.cron,
        execution_timezone=settings.business_time_zone.key,
        description="Evaluate the open runs and alert (config/alerts.yaml evaluation.cron).",
    )
    def _schedule(context: ScheduleEvaluationContext):
        running = context.instance.get_runs(filters=RunsFilter(job_name=JOB_NAME, statuses=ACTIVE), limit=1)
        if running:
            return SkipReason(f"evaluation {running[0].run_id} is still running")
        return RunRequest(tags=RUN_TAGS)

    return _schedule
