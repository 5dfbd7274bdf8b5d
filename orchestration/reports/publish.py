"""Render a month's department reports and hand each department's link to the outbox (once per channel)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from orchestration.monitoring.config import load_alert_config
from orchestration.monitoring.outbox import DeliveryReport, deliver, record_proposals, record_reports
from orchestration.reports.proposals import write_digests
from orchestration.reports.queries import Reporting
from orchestration.reports.render import render_months
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse


@dataclass
class Published:
    reports: dict[str, str] = field(default_factory=dict)  # "<YYYY-MM> <department>" -> file
    proposals: dict[str, str] = field(default_factory=dict)  # "<YYYY-MM>" -> the digest of proposed commitments
    recorded: int = 0  # deliveries new to the outbox (0 on a rerun of the same months)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)


def publish_reports(
    warehouse: Warehouse, settings: Settings, months: list[date], now: datetime, dagster_run_id: str | None = None
) -> Published:
    """Every department's report of each month under `<data dir>/reports/<YYYY-MM>/`, and the month's digest of
    proposed commitments beside them, recorded in the outbox for the routes that carry reports (proposals),
    then whatever the outbox has due is delivered."""
    config = load_alert_config(settings)
    reporting = Reporting(warehouse.query, warehouse.schema_name)
    out = Published()
    reports_dir = settings.data_dir / "reports"
    written = render_months(reporting, months, reports_dir, now)
    out.reports = {f"{month:%Y-%m} {d}": str(path) for month, files in written.items() for d, path in files.items()}
    digests = write_digests(warehouse, reports_dir, months, now)
    out.proposals = {f"{month:%Y-%m}": str(path) for month, path in digests.items()}
    # Recorded once every file is written: a delivery never links to a report not there yet.
    out.recorded = record_reports(warehouse, config, {m: list(files) for m, files in written.items()}, now,
                                  dagster_run_id)  # fmt: skip
    out.recorded += record_proposals(warehouse, config, list(digests), now, dagster_run_id)
    out.delivery = deliver(warehouse, config, now)
    return out
