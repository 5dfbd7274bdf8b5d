"""The one Dagster Definitions of the project, assembled from small modules over one `Settings`.

Building them validates the whole configuration (every file of the configuration directory and the
warehouse settings); a mistake stops the load with one `ConfigError` naming the file, entry or variable.
"""

from dagster import AssetSelection, Definitions, build_schedule_from_partitioned_job, define_asset_job

from orchestration.assets.dbt import dbt_asset_sets
from orchestration.assets.extraction import extraction_assets
from orchestration.assets.reference import reference_assets
from orchestration.assets.reporting import reporting_models
from orchestration.assets.reports import report_assets
from orchestration.console_log import console_logger
from orchestration.dbt_runner import InProcessDbt
from orchestration.errors import ConfigError
from orchestration.monitoring.job import build_monitoring_job, monitoring_schedule
from orchestration.quality.gx import GreatExpectations
from orchestration.quality.model_checks import model_checks
from orchestration.reference.publish import check_reference
from orchestration.settings import DBT_EXECUTABLE, Settings
from orchestration.warehouse import Warehouse
from orchestration.whatif import build_whatif_job


def build_defs(settings: Settings | None = None) -> Definitions:
    """Built from the settings (default: the configuration directory and the environment, read now)."""
    settings = settings or Settings.load()
    check_reference(settings)
    warehouse = Warehouse.from_settings(settings)
    reference = reference_assets(settings)
    extraction = extraction_assets(settings)
    dbt = dbt_asset_sets(settings, extraction)
    # The reporting views and the read-only snapshot: the last step of every job (assets/reporting.py).
    reporting = reporting_models(extraction)
    monitoring_job = build_monitoring_job(settings)
    reports = report_assets(settings, reporting)  # after the views and the snapshot of the month
    reference_job = define_asset_job(
        "reference_job",
        selection=AssetSelection.assets(reference, dbt["reference"], reporting),
        description="Publish the catalogue, commitments and periods; build the views and dimensions.",
    )
    daily_job = define_asset_job(
        "daily_job",
        selection=AssetSelection.assets(*extraction, dbt["daily"], reporting),
        description="Extract every source for the day(s), rebuild the changed work orders, judge the day(s).",
    )
    weekly_job = define_asset_job(
        "weekly_job", selection=AssetSelection.assets(dbt["weekly"], reporting),
        description="Judge the ISO week(s): node-run states, work-order status, achievement rates.",
    )  # fmt: skip
    monthly_job = define_asset_job(
        "monthly_job", selection=AssetSelection.assets(dbt["monthly"], reporting, reports),
        description="Judge the month(s): node-run states, work-order status, achievement rates; department reports.",
    )  # fmt: skip
    # Each schedule fires just after its period closes (business time zone) and targets that period;
    # the weekly and monthly ones after the daily one has landed the period's last day.
    schedules = [
        build_schedule_from_partitioned_job(daily_job, hour_of_day=0, minute_of_hour=30),
        build_schedule_from_partitioned_job(weekly_job, hour_of_day=2, minute_of_hour=0),
        build_schedule_from_partitioned_job(monthly_job, hour_of_day=3, minute_of_hour=0),
        monitoring_schedule(settings, monitoring_job),  # live: every 15 minutes, alerts.yaml
    ]
    return Definitions(
        assets=[reference, *extraction, *dbt.values(), reporting, reports],
        asset_checks=model_checks(settings) if settings.great_expectations else [],
        # whatif_job: a range judged under a candidate commitments file, beside the marts (orchestration/whatif.py).
        jobs=[reference_job, daily_job, weekly_job, monthly_job, monitoring_job, build_whatif_job(settings)],
        schedules=schedules,
        loggers={"console": console_logger},  # used by the runs the runner starts (orchestration/console_log.py)
        resources={
            "warehouse": warehouse,
            "gx": GreatExpectations.from_settings(settings),
            # dbt_executable only for dagster-dbt's check that one exists: the jobs run dbt in process.
            "dbt": InProcessDbt(
                project_dir=settings.dbt_project_dir,
                profiles_dir=settings.dbt_project_dir,
                dbt_executable=DBT_EXECUTABLE,
            ),
        },
    )


try:
    defs = build_defs()
except ConfigError as error:
    # The message says where and what to set; the frames of the loaders would only bury it (`dagster dev`
    # and `dagster definitions validate` show the message, then this one line).
    raise ConfigError(str(error)) from None
