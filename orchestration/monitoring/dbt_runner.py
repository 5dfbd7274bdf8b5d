"""dbt in this process, over a manifest parsed once per process, project version and warehouse.

Every evaluation passes a new instant as --vars, and a change of vars makes the dbt CLI re-parse the whole
project: about as long as the evaluation itself, every 15 minutes. A parsed manifest compiles with new vars
as is, and an in-process invocation also saves starting dbt.
"""

from __future__ import annotations

import os
import shutil
import threading
from typing import Any

from orchestration.dbt_project import MANIFEST, PROFILE_ENV, ensure_manifest
from orchestration.settings import DBT_PROJECT_DIR

# Per process, as dagster-dbt does per invocation: runs in parallel processes (PostgreSQL allows them)
# must not write each other's compiled SQL and run results.
TARGET = DBT_PROJECT_DIR / "target" / "monitoring" / str(os.getpid())
_lock = threading.Lock()  # dbt's programmatic invocations are not thread-safe
_manifests: dict[tuple, Any] = {}


def _dbt_args(*args: str) -> list[str]:
    return [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(TARGET)]  # fmt: skip


def _runner() -> Any:
    from dbt.cli.main import dbtRunner

    ensure_manifest()
    # Parsing resolves the target's database and schema into the nodes: a parse per project version and
    # per warehouse the environment names (the profile reads these variables).
    profile = tuple(os.environ.get(v) for v in PROFILE_ENV)
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
    """dbt-duckdb keeps its database open in the process after an invocation (dbt's own cleanup closes
    the connections, not the environment that holds the database); DuckDB allows one process per file,
    so close it as every other warehouse step does. close_all_connections drops that environment, and
    its finaliser closes the database (tests/test_monitoring.py opens the file from another process)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    DuckDBConnectionManager.close_all_connections()


def dbt_in_process(*args: str) -> None:
    """Run one dbt command (e.g. build --select ...) against the environment's warehouse; raises on failure."""
    with _lock:
        try:
            result = _runner().invoke(_dbt_args(*args, "--quiet"))
        finally:
            _release_duckdb()
    if not result.success:
        failed = [f"{r.node.name}: {r.message}" for r in getattr(result.result, "results", []) or []
                  if str(r.status) in ("error", "fail")]  # fmt: skip
        raise RuntimeError(f"dbt {args[0]} failed: {failed or result.exception}")
