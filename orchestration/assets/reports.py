"""Monthly department reports (issue 13): one self-contained HTML file per department and month under
`<data dir>/reports/<YYYY-MM>/<department>.html`, each sent (as a link) once through the routes of
alerts.yaml that carry `reports`, by the alert outbox."""

from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from orchestration.monitoring.config import load_alert_config
from orchestration.monitoring.outbox import deliver, record_reports
from orchestration.periods import Partitions, Window, utc_now
from orchestration.reports.queries import Reporting
from orchestration.reports.render import render_month
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse


def months_of(window: Window) -> list[date]:
    first, last = window.first_day.replace(day=1), window.last_day.replace(day=1)
    months = []
    while first <= last:
        months.append(first)
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return months


def report_assets(settings: Settings, monthly_dbt: AssetsDefinition) -> AssetsDefinition:
    @asset(
        name="department_reports",
        key_prefix=["reports"],
        group_name="reports",
        partitions_def=Partitions.of(settings).monthly,
        backfill_policy=BackfillPolicy.single_run(),
        deps=list(monthly_dbt.keys),
        kinds={"python", "html"},
        pool="warehouse",
    )
    def department_reports(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
        """Render each department's report of the month from the reporting layer (charts inline, Chinese) and
        send each department its link once, through the outbox of the live alerts."""
        now = utc_now()
        config = load_alert_config(settings)
        reports_dir = settings.data_dir / "reports"
        reporting = Reporting(warehouse.query, warehouse.schema_name)
        listed: dict[str, str] = {}
        recorded = 0
        for month in months_of(Window.from_context(context, settings.business_time_zone)):
            written = render_month(reporting, month, reports_dir, now)
            listed |= {f"{month:%Y-%m} {d}": str(path) for d, path in written.items()}
            recorded += record_reports(warehouse, config, month, list(written), now, context.run_id)
        sent = deliver(warehouse, config, now)
        context.log.info(f"{len(listed)} reports; {recorded} new deliveries, {sent.delivered} delivered now")
        return MaterializeResult(
            metadata={
                "reports": MetadataValue.json(listed),
                "report_count": len(listed),
                "directory": MetadataValue.path(str(reports_dir)),
                "deliveries_recorded": recorded,
                "deliveries_failed": sent.failed,
            }
        )

    return department_reports
