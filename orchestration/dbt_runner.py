"""dbt in this process, over a manifest parsed once per process, project version and warehouse profile.

Every job step used to start a dbt process: 2-3 s to import dbt and its adapter and about 1 s to load the
partial parse, before seconds or less of SQL (BENCHMARKS.md, issue 12). Here dbt is imported once per
process and parsed once per profile; each invocation compiles the parsed manifest with the environment
of the moment (the window's variables, `Window.dbt_env`) and runs.

`InProcessDbt` is the jobs' `dbt` resource: a `DbtCliResource` whose `cli` runs dbt here and hands
dagster-dbt's own `DbtCliInvocation` the events dbt fired, as the JSON lines a dbt process would have
printed, so the Dagster events (materialisations, asset checks) are dagster-dbt's. `dbt_in_process` is the
same runner for callers outside an asset (the live evaluation, the tests).
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DbtCliInvocation, DbtCliResource

from orchestration.dbt_project import cheap_behavior_flag_source, parsed_manifest, project_args
from orchestration.settings import DBT_PROJECT_DIR, Settings
from orchestration.warehouse import Warehouse, pg_session_options

# Outside the jobs (live evaluation, tests): one target directory per process, as dagster-dbt keeps one
# per invocation, so processes in parallel (PostgreSQL allows them) never write each other's artefacts.
TARGET = DBT_PROJECT_DIR / "target" / "in_process" / str(os.getpid())
_lock = threading.Lock()  # dbt's programmatic invocations are not thread-safe


def _manifest() -> Any:
    manifest = parsed_manifest()
    # Compiling marks the nodes (code compiled, ephemeral CTEs injected): undo it, as a fresh parse would.
    for node in manifest.nodes.values():
        if hasattr(node, "extra_ctes_injected"):
            node.compiled, node.compiled_code, node.extra_ctes_injected, node.extra_ctes = False, None, False, []
    return manifest


def _release_duckdb() -> None:
    """dbt-duckdb keeps its database open in the process after an invocation (dbt's own cleanup closes
    the connections, not the environment that holds the database); DuckDB allows one process per file,
    and this process's own warehouse connections open it again, so close it as every other warehouse step
    does. close_all_connections drops that environment, and its finaliser closes the database."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    DuckDBConnectionManager.close_all_connections()


class Invocation:
    """What one in-process dbt command left: whether it succeeded, its results, and the events it fired
    at info level and above as the JSON lines of a dbt process's `--log-format json` output."""

    def __init__(self, args: list[str], success: bool, result: Any, exception: BaseException | None,
                 lines: list[bytes]) -> None:  # fmt: skip
        self.args, self.success, self.result, self.exception, self.lines = args, success, result, exception, lines

    def failures(self) -> list[str]:
        results = getattr(self.result, "results", None) or []
        return [f"{r.node.name}: {r.message}" for r in results if str(r.status) in ("error", "fail")]


# The events dagster-dbt turns into materialisations and check results (DbtCoreCliEventMessage.is_result_event).
RESULT_EVENTS = frozenset({"LogSeedResult", "LogModelResult", "LogSnapshotResult", "LogTestResult"})


def invoke(args: Sequence[str], target: Path, env: dict[str, str] | None = None,
           unreported: Collection[str] = ()) -> Invocation:  # fmt: skip
    """Run one dbt command here against the environment's warehouse, with `env` set while it runs. The nodes
    in `unreported` (models that are not Dagster assets, and their tests) leave no result event; a failure of
    theirs is kept as an error line, so the step fails with its message."""
    from dbt.cli.main import dbtRunner
    from dbt_common.events.base_types import EventLevel
    from dbt_common.events.functions import msg_to_json

    cheap_behavior_flag_source()
    lines: list[bytes] = []

    def collect(msg: Any) -> None:
        if msg.info.level == EventLevel.DEBUG:
            return
        if msg.info.name in RESULT_EVENTS and msg.data.node_info.unique_id in unreported:
            if msg.info.level == EventLevel.ERROR:
                lines.append(_error_line(msg.info.msg))
            return
        lines.append(msg_to_json(msg).encode())

    # --no-write-json: no manifest.json and run_results.json per invocation (a second each at this project's
    # size); the results are in the Invocation, the log in <target>/dbt.log.
    full = [*args, *project_args(target), "--quiet", "--no-write-json"]
    env = dict(env or {})
    if not os.environ.get("WAREHOUSE_DUCKDB_PATH"):
        # The profile's default path (../data) is relative to the dbt project, where a dbt process ran; this
        # process runs wherever the pipeline started: name the file the pipeline's own connections open.
        env["WAREHOUSE_DUCKDB_PATH"] = Warehouse.from_settings(Settings.load()).duckdb_path
    if (os.environ | env).get("WAREHOUSE_TARGET") == "postgres":
        env.setdefault("PGOPTIONS", pg_session_options())  # libpq reads it as dbt connects
    with _lock, environment(env):
        try:
            result = dbtRunner(manifest=_manifest(), callbacks=[collect]).invoke(full)
        finally:
            _release_duckdb()
    if result.exception is not None:  # raised before any node ran (compilation, connection): no error event
        lines.append(_error_line(f"dbt {args[0]} failed: {result.exception}"))
    return Invocation(full, result.success, result.result, result.exception, lines)


def dbt_in_process(*args: str) -> Invocation:
    """One dbt command (e.g. build --select ...) outside an asset; raises on failure."""
    invocation = invoke(args, TARGET)
    if not invocation.success:
        raise RuntimeError(f"dbt {args[0]} failed: {invocation.failures() or invocation.exception}")
    return invocation


def _error_line(message: str) -> bytes:
    import json

    return json.dumps({"info": {"level": "error", "msg": message, "name": "RunnerException"}, "data": {}}).encode()


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set while dbt runs, then put back (dbt reads the window's variables as it compiles)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Ended:
    """The part of a `subprocess.Popen` that `DbtCliInvocation` reads, for a command that already ran here:
    its printed lines and exit code."""

    def __init__(self, invocation: Invocation) -> None:
        self.args = ["dbt", *invocation.args]
        self.stdout = io.BytesIO(b"\n".join(invocation.lines))
        self.returncode = 0 if invocation.success else 1

    def wait(self, timeout: float | None = None) -> int:
        return self.returncode

    def send_signal(self, signal: int) -> None:  # nothing is running any more
        pass


class InProcessDbt(DbtCliResource):
    """`DbtCliResource` with dbt run in the step's process (see the module's docstring)."""

    def cli(
        self,
        args: Sequence[str],
        *,
        raise_on_error: bool = True,
        manifest: Any = None,
        dagster_dbt_translator: DagsterDbtTranslator | None = None,
        context: Any = None,
        target_path: Path | None = None,
        unreported: Collection[str] = (),
    ) -> DbtCliInvocation:
        """`DbtCliResource.cli`, and `unreported`: nodes the invocation builds that are not assets (invoke)."""
        # What DbtCliResource.cli does before it starts a process (dagster-dbt is pinned in pyproject.toml):
        # the selection from the step's selected assets and checks, and a target directory per invocation.
        from dagster_dbt.asset_utils import (
            extract_runtime_selection_from_args,
            get_updated_cli_invocation_params_for_context,
        )
        from dagster_dbt.dagster_dbt_translator import validate_opt_translator
        from dagster_dbt.dbt_manifest import validate_manifest
        from dbt.version import __version__ as dbt_version
        from packaging import version

        translator = validate_opt_translator(dagster_dbt_translator) or DagsterDbtTranslator()
        cleaned, selects, excludes = extract_runtime_selection_from_args(args)
        params = get_updated_cli_invocation_params_for_context(
            context=context,
            manifest=validate_manifest(manifest) if manifest else {},
            dagster_dbt_translator=translator,
            runtime_selects=selects,
            runtime_excludes=excludes,
        )
        target = Path(target_path or self._get_unique_target_path(context=context))
        project_dir = Path(params.dbt_project.project_dir if params.dbt_project else self.project_dir)
        target = target if target.is_absolute() else project_dir / target
        env = {"DBT_INDIRECT_SELECTION": params.indirect_selection} if params.indirect_selection else {}
        invocation = invoke([*cleaned, *params.selection_args], target, env, unreported)
        return DbtCliInvocation(
            process=_Ended(invocation),  # type: ignore[arg-type]
            manifest=params.manifest,
            dagster_dbt_translator=params.dagster_dbt_translator,
            project_dir=project_dir,
            target_path=target,
            raise_on_error=raise_on_error,
            cli_version=version.parse(dbt_version),  # not self._cli_version, which starts `dbt --version`
            project=params.dbt_project,
            context=context,
            adapter=None,  # only for dagster-dbt's column metadata, which the assets do not fetch
        )
