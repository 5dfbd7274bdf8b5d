"""One live evaluation: land the changes since each source's cursor, judge the open runs as of now in
dbt (fct_node_runs for the changed work orders, then open_run_states), record the alerts they raise in
the outbox, deliver what is due.

The run time and band come from dbt (macros elapsed_seconds, join_commitment_in_force, run_status_at,
run_band), never from Python, so business calendars and paused clocks reach the alerts unchanged.
Each step is a function the Dagster job (orchestration/assets/monitoring.py), the demo and the
benchmark call alike.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestration.catalog import load_catalogue
from orchestration.monitoring import outbox
from orchestration.monitoring.config import AlertConfig, load_alert_config
from orchestration.monitoring.increments import Increment, ensure_tables, extract_increment
from orchestration.settings import DBT_PROJECT_DIR
from orchestration.sources.config import load_sources
from orchestration.warehouse import Warehouse

# fct_node_runs is updated for the changed work orders only; its tests run with the daily job (here
# they would scan the whole table). open_run_states is built and tested whole: it holds open runs only.
CURRENT_STATE_BUILD = [
    "build",
    "--select",
    "fct_node_runs open_run_states",
    "--exclude",
    "fct_node_runs,resource_type:test",
]
TARGET = DBT_PROJECT_DIR / "target" / "monitoring"
_dbt_lock = threading.Lock()
_manifests: dict[tuple, Any] = {}


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


def land_increments(warehouse: Warehouse, as_of: datetime, config: AlertConfig) -> list[Increment]:
    """Every declared source's changes up to as_of."""
    if not warehouse.table_exists(warehouse.schema_name, "dim_commitments"):
        raise NotReadyError("the reference tables are missing: run reference_job once before monitoring")
    ensure_tables(warehouse)
    catalogue = load_catalogue()
    return [extract_increment(warehouse, cfg, catalogue, as_of, config.evaluation) for cfg in load_sources()]


def _dbt_args(*args: str) -> list[str]:
    return [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(TARGET)]  # fmt: skip


def _runner() -> Any:
    """dbt in this process, over a manifest parsed once per process and project version.

    Every evaluation passes a new instant as --vars, and a change of vars makes the dbt CLI re-parse the
    whole project (seconds of fixed cost every 15 minutes); a parsed manifest compiles with new vars as is.
    """
    from dbt.cli.main import dbtRunner

    from orchestration.assets.dbt import MANIFEST, ensure_manifest

    ensure_manifest()
    # Parsing resolves the target's database and schema into the nodes: a parse per project version and
    # per warehouse the environment names (the profile reads these variables).
    profile = tuple(os.environ.get(v) for v in ("WAREHOUSE_TARGET", "WAREHOUSE_SCHEMA", "WAREHOUSE_DUCKDB_PATH",
                                                 "PGHOST", "PGPORT", "PGDATABASE", "PGUSER"))  # fmt: skip
    version = (MANIFEST.stat().st_mtime, profile)
    if version not in _manifests:
        TARGET.mkdir(parents=True, exist_ok=True)
        partial = MANIFEST.parent / "partial_parse.msgpack"
        if partial.exists():  # start from the project's partial parse, like dagster-dbt does
            shutil.copy(partial, TARGET / partial.name)
        parsed = dbtRunner().invoke(_dbt_args("parse", "--quiet"))
        if not parsed.success:
            raise RuntimeError(f"dbt parse failed: {parsed.exception}")
        _manifests.clear()
        _manifests[version] = parsed.result
    manifest = _manifests[version]
    # Compiling marks the nodes (code compiled, ephemeral CTEs injected): undo it, as a fresh parse would.
    for node in manifest.nodes.values():
        if hasattr(node, "extra_ctes_injected"):
            node.compiled, node.compiled_code, node.extra_ctes_injected, node.extra_ctes = False, None, False, []
    return dbtRunner(manifest=manifest)


def _release_duckdb() -> None:
    """dbt-duckdb keeps its database open in the process after an invocation; DuckDB allows one process
    per file, so close it as every other warehouse step does (close_all_connections only forgets it)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        if manager._ENV is not None:
            manager._ENV.close()
            manager._ENV = None


def build_current_state(changed_since: datetime, as_of: datetime) -> None:
    """Rebuild the work orders landed since `changed_since`, then the open runs' state as of `as_of`."""
    variables = {"changed_since": utc_text(changed_since), "as_of_cap": utc_text(as_of)}
    with _dbt_lock:  # dbt's programmatic invocations are not thread-safe
        try:
            result = _runner().invoke(_dbt_args(*CURRENT_STATE_BUILD, "--quiet", "--vars", json.dumps(variables)))
        finally:
            _release_duckdb()
    if not result.success:
        failed = [f"{r.node.name}: {r.message}" for r in getattr(result.result, "results", []) or []
                  if str(r.status) in ("error", "fail")]  # fmt: skip
        raise RuntimeError(f"dbt build of the current state failed: {failed or result.exception}")


def evaluate(
    warehouse: Warehouse,
    now: datetime | None = None,
    config: AlertConfig | None = None,
    dagster_run_id: str | None = None,
) -> EvaluationResult:
    """The whole evaluation outside Dagster (demo, benchmark, tests); the job runs the same steps."""
    import time

    config = config or load_alert_config()
    as_of = now or datetime.now(UTC)
    result = EvaluationResult(as_of)
    began = time.perf_counter()
    changed_since = datetime.now(UTC)
    result.increments = land_increments(warehouse, as_of, config)
    landed = time.perf_counter()
    build_current_state(changed_since, as_of)
    built = time.perf_counter()
    result.recorded = outbox.record(warehouse, config, as_of, dagster_run_id)
    recorded = time.perf_counter()
    result.delivery = outbox.deliver(warehouse, config, as_of)
    done = time.perf_counter()
    result.seconds = {"extract": landed - began, "dbt": built - landed, "record": recorded - built,
                      "deliver": done - recorded}  # fmt: skip
    return result
