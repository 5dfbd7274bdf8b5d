"""One live evaluation: land the changes since each source's cursor, judge the open runs as of now in
dbt (fct_node_runs for the changed work orders, then open_run_states), record the alerts they raise in
the outbox, deliver what is due.

The run time and band come from dbt (macros elapsed_seconds, join_commitment_in_force, run_status_at,
run_band), never from Python, so business calendars and paused clocks reach the alerts unchanged.
Each step is a function the Dagster job (orchestration/monitoring/job.py), the demo and the
benchmark call alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestration.dbt_project import BASE_MODELS, MONITORING_TAG
from orchestration.dbt_runner import dbt_in_process
from orchestration.monitoring import outbox
from orchestration.monitoring.config import AlertConfig, load_alert_config
from orchestration.monitoring.increments import (
    Increment,
    Increments,
    ensure_tables,
    extract_increment,
    mark_built,
    unbuilt_since,
)
from orchestration.reference.catalogue import load_catalogue
from orchestration.settings import Settings
from orchestration.sources.config import load_sources
from orchestration.warehouse import Warehouse

# fct_node_runs is updated for the changed work orders only; its tests run with the daily job (here
# they would scan the whole table). open_run_states is built and tested whole: it holds open runs only.
CURRENT_STATE_BUILD = [
    "build",
    "--select",
    f"{BASE_MODELS} {MONITORING_TAG}",
    "--exclude",
    f"{BASE_MODELS},resource_type:test",
]


class NotReadyError(RuntimeError):
    pass


@dataclass
class EvaluationResult:
    as_of: datetime
    increments: list[Increment] = field(default_factory=list)
    recorded: int = 0
    delivery: outbox.DeliveryReport | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def land_increments(
    warehouse: Warehouse, settings: Settings, as_of: datetime, config: AlertConfig
) -> tuple[datetime, list[Increment]]:
    """Every declared source's changes up to as_of. Returns also the landing instant since which work
    orders wait for dbt (this evaluation's, or that of an earlier one whose dbt step failed)."""
    if not warehouse.table_exists(warehouse.schema_name, "dim_commitments"):
        raise NotReadyError("the reference tables are missing: run reference_job once before monitoring")
    ensure_tables(warehouse)
    since = unbuilt_since(warehouse)
    inc = Increments(settings, load_catalogue(settings.processes_file), config.evaluation)
    return since, [extract_increment(warehouse, cfg, as_of, inc) for cfg in load_sources(settings)]


def build_current_state(warehouse: Warehouse, changed_since: datetime, as_of: datetime) -> None:
    """Rebuild the work orders landed since `changed_since`, then the open runs' state as of `as_of`."""
    variables = {"changed_since": utc_text(changed_since), "as_of_cap": utc_text(as_of)}
    dbt_in_process(*CURRENT_STATE_BUILD, "--vars", json.dumps(variables))
    mark_built(warehouse)


def evaluate(
    warehouse: Warehouse,
    settings: Settings,
    now: datetime | None = None,
    config: AlertConfig | None = None,
    dagster_run_id: str | None = None,
) -> EvaluationResult:
    """The whole evaluation outside Dagster (demo, benchmark, tests); the job runs the same steps."""
    import time

    config = config or load_alert_config(settings)
    as_of = now or datetime.now(UTC)
    result = EvaluationResult(as_of)
    began = time.perf_counter()
    changed_since, result.increments = land_increments(warehouse, settings, as_of, config)
    landed = time.perf_counter()
    build_current_state(warehouse, changed_since, as_of)
    built = time.perf_counter()
    result.recorded = outbox.record(warehouse, config, as_of, dagster_run_id)
    recorded = time.perf_counter()
    result.delivery = outbox.deliver(warehouse, config, as_of)
    done = time.perf_counter()
    result.seconds = {"extract": landed - began, "dbt": built - landed, "record": recorded - built,
                      "deliver": done - recorded}  # fmt: skip
    return result
