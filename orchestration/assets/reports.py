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

from orchestration.periods import Partitions, Window, utc_now
from orchestration.reports.publish import publish_reports
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse, keeps_duckdb_open


def months_of(window: Window) -> list[date]:
    first, last = window.first_day.replace(day=1), window.last_day.replace(day=1)
    months = []
    while first <= last:
        months.append(first)
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return months


def report_assets(settings: Settings, reporting_views: AssetsDefinition) -> AssetsDefinition:
    """Materialised after `reporting_views` (the views the month's job rebuilds last)."""

    @asset(
        name="department_reports",
        key_prefix=["reports"],
        group_name="reports",
        partitions_def=Partitions.of(settings).monthly,
        backfill_policy=BackfillPolicy.single_run(),
        deps=list(reporting_views.keys),
        kinds={"python", "html"},
        pool="warehouse",
    )
    @keeps_duckdb_open
    def department_reports(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
        """Render each department's report of the month from the reporting layer (charts inline, Chinese) and
        send each department its link once, through the outbox of the live alerts."""
        window = Window.from_context(context, settings.business_time_zone)
        published = publish_reports(warehouse, settings, months_of(window), utc_now(), context.run.run_id)
        context.log.info(f"{len(published.reports)} reports; {published.recorded} new deliveries, "
                         f"{published.delivery.delivered} delivered now")  # fmt: skip
        return MaterializeResult(
            metadata={
                "reports": MetadataValue.json(published.reports),
                "proposals_digest": MetadataValue.json(published.proposals),
                "report_count": len(published.reports),
                "directory": MetadataValue.path(str(settings.data_dir / "reports")),
                "deliveries_recorded": published.recorded,
                "deliveries_failed": published.delivery.failed,
            }
        )

    return department_reports
