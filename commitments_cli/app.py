"""`commitments`: the commands a user runs. `commitments --help` lists them; every option has its help."""

from __future__ import annotations

import functools
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from commitments_cli.errors import USER_ERROR_EXIT_CODE, is_user_error
from commitments_cli.runlog import RunLog, log_path, terminal_stream
from orchestration.errors import ConfigError

# Tracebacks stay plain: typer's pretty ones print local variables, which may hold credentials.
app = typer.Typer(
    name="commitments",
    help="Service commitments, measured: run the pipeline, look after its data quality, try the demos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
quality_app = typer.Typer(
    help="Look at a partition's quarantined rows and re-process it once its source is fixed.", no_args_is_help=True
)
benchmark_app = typer.Typer(
    help="Time the pipeline on generated demo sources (see BENCHMARKS.md).", no_args_is_help=True
)
bi_role_app = typer.Typer(
    help="Read-only access for BI tools to the reporting views and the marts (PostgreSQL).", no_args_is_help=True
)
app.add_typer(quality_app, name="quality")
app.add_typer(benchmark_app, name="benchmark")
app.add_typer(bi_role_app, name="bi-role")


class Warehouses(StrEnum):
    duckdb = "duckdb"
    postgres = "postgres"
    both = "both"


class OneWarehouse(StrEnum):
    duckdb = "duckdb"
    postgres = "postgres"


class JobsCase(StrEnum):
    helpdesk = "helpdesk"
    demo = "demo"


class Instances(StrEnum):
    sqlite = "sqlite"
    postgres = "postgres"
    both = "both"


class Clock(StrEnum):
    config = "config"
    wall = "wall"
    business = "business"


Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Show Dagster's and dbt's log on the console too, and tracebacks of errors."),
]
ConfigDir = Annotated[
    Path | None,
    typer.Option(
        envvar="COMMITMENTS_CONFIG_DIR",
        help="Your configuration directory (pipeline.yaml, processes.yaml, commitments.yaml, calendars.yaml, "
        "alerts.yaml, sources/); default: the repository's config/.",
        file_okay=False,
        exists=True,
    ),
]


def _consoles() -> tuple[Console, Console]:
    """The command's own output (stdout) and its error lines (stderr); they still reach the terminal while
    a RunLog redirects the process's stdout and stderr into the log file."""
    return Console(file=terminal_stream(sys.stdout), highlight=False, soft_wrap=True), Console(
        file=terminal_stream(sys.stderr), highlight=False, soft_wrap=True
    )


def guided(command: Callable[..., Any]) -> Callable[..., Any]:
    """The pipeline's own errors (an unreachable warehouse or source, a configuration error) end the command
    with their message and exit code 2, without a traceback unless --verbose."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as err:
            if not is_user_error(err):
                raise
            _, errors = _consoles()
            if kwargs.get("verbose"):
                errors.print("".join(traceback.format_exception(err)), markup=False, end="")
            kind = "configuration error" if isinstance(err, ConfigError) else "error"
            errors.print(f"{kind}: {err}", markup=False, style="bold red")
            raise typer.Exit(USER_ERROR_EXIT_CODE) from None

    return wrapper


def _use_config_dir(config_dir: Path | None) -> None:
    """The process's settings come from the environment (Settings.load, and dbt run as a subprocess)."""
    if config_dir is not None:
        os.environ["COMMITMENTS_CONFIG_DIR"] = str(config_dir.resolve())


def check_configuration(settings) -> None:
    """Every configuration file, validated before a command generates or writes anything (tens of ms)."""
    from orchestration.reference.publish import check_reference
    from orchestration.sources.config import load_sources

    check_reference(settings)
    load_sources(settings)


def _run_jobs(periods, verbose: bool, before_jobs: Callable[[], object] | None = None) -> tuple[bool, Path]:
    """The jobs over the periods, with progress; Dagster's and dbt's output go to the run's log file."""
    from commitments_cli.progress import run_with_progress
    from demo.main import dagster_instance
    from orchestration.runner import planned_runs
    from orchestration.settings import Settings

    out, errors = _consoles()
    path = log_path(Settings.load().data_dir)
    with RunLog(path, echo=errors.file if verbose else None):
        from orchestration.definitions import build_defs  # its import builds definitions: warnings to the log

        cleanup = before_jobs() if before_jobs else None
        try:
            outcomes = run_with_progress(build_defs(), dagster_instance(), planned_runs(periods), out)
        finally:
            if cleanup is not None:
                cleanup.shutdown()  # type: ignore[attr-defined]
    return all(o.ok for o in outcomes), path


@app.command()
@guided
def demo(
    days: Annotated[int, typer.Option(min=1, help="Closed days to materialise, up to yesterday.")] = 62,
    orders_per_day: Annotated[int, typer.Option(min=1, help="Work orders the demo systems start per day.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed of the demo systems (same seed, same data).")] = 7,
    verbose: Verbose = False,
) -> None:
    """Generate the demo source systems, materialise the recent days, weeks and months, print a summary."""
    from demo.main import prepare_demo_sources, start_ticket_api, summary, where_to_look
    from orchestration.periods import PeriodRange
    from orchestration.quality.summary import overview
    from orchestration.settings import Settings
    from orchestration.warehouse import Warehouse

    out, _ = _consoles()
    began = time.perf_counter()
    settings = Settings.load()
    warehouse = Warehouse.from_settings(settings)
    warehouse.check_reachable()  # before anything is generated
    check_configuration(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    counts = prepare_demo_sources(days, orders_per_day, now, seed)
    out.print(f"demo sources in {settings.data_dir}: " + ", ".join(f"{k} {v:,} rows" for k, v in counts.items()))
    periods = PeriodRange.closed_days_until(now, days, settings.business_time_zone)
    out.print(f"materialising {periods.first}...{periods.last} on {warehouse.describe()}")
    ok, path = _run_jobs(periods, verbose, before_jobs=start_ticket_api)
    if ok:
        out.print(summary(warehouse.schema_name), markup=False)
        out.print("\n" + overview(warehouse), markup=False)
        out.print("\n" + where_to_look(settings.data_dir, periods), markup=False)
    _finish(out, ok, path, began)


@app.command()
@guided
def backfill(
    first: Annotated[
        datetime,
        typer.Option("--from", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="First business day of the range."),
    ],
    last: Annotated[
        datetime,
        typer.Option(
            "--to", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="Last business day of the range (inclusive)."
        ),
    ],
    config_dir: ConfigDir = None,
    verbose: Verbose = False,
) -> None:
    """Run the jobs over a date range on your configuration: reference, daily over the range, then its whole
    ISO weeks and months. Each job runs once for the whole range; a rerun replaces, never duplicates."""
    from orchestration.periods import PeriodRange
    from orchestration.quality.summary import overview
    from orchestration.settings import Settings
    from orchestration.warehouse import Warehouse

    if last < first:
        raise typer.BadParameter("--to is before --from", param_hint="--to")
    _use_config_dir(config_dir)
    out, _ = _consoles()
    began = time.perf_counter()
    settings = Settings.load()
    warehouse = Warehouse.from_settings(settings)
    warehouse.check_reachable()
    check_configuration(settings)
    periods = PeriodRange(first.date(), last.date())
    out.print(f"backfill {periods.first}...{periods.last} of {settings.config_dir} on {warehouse.describe()}")
    ok, path = _run_jobs(periods, verbose)
    if ok:
        out.print("\n" + overview(warehouse), markup=False)
    _finish(out, ok, path, began)


def _finish(out: Console, ok: bool, path: Path, began: float) -> None:
    out.print(f"\nlog: {path}")
    if not ok:
        out.print(
            f"[bold red]stopped[/] after {time.perf_counter() - began:.0f} s: a job failed (above; details in the log)"
        )
        raise typer.Exit(1)
    out.print(f"finished in {time.perf_counter() - began:.0f} s")


def _quality_target(source: str):
    from orchestration.landing.batch import ensure_landing
    from orchestration.quality.cli import source_config
    from orchestration.settings import Settings
    from orchestration.warehouse import Warehouse

    settings = Settings.load()
    warehouse = Warehouse.from_settings(settings)
    warehouse.check_reachable()
    source_config(settings, source)
    ensure_landing(warehouse)
    return settings, warehouse


Source = Annotated[str, typer.Option(help="The source's name (its file in <config>/sources/).")]
Partition = Annotated[
    datetime, typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="The business day (day partition).")
]


@quality_app.command("list")
@guided
def quality_list(source: Source, partition: Partition, config_dir: ConfigDir = None, verbose: Verbose = False) -> None:
    """Print a partition's quarantined rows: reason code, detail, the row as received."""
    from orchestration.quality.cli import list_report

    _use_config_dir(config_dir)
    _, warehouse = _quality_target(source)
    out, _ = _consoles()
    out.print(list_report(warehouse, source, partition.date()), markup=False)


@quality_app.command("reprocess")
@guided
def quality_reprocess(
    source: Source, partition: Partition, config_dir: ConfigDir = None, verbose: Verbose = False
) -> None:
    """Extract the partition again from the (fixed) source and land it in place of the old load: accepted rows
    are replaced, never doubled; the checks and the summary are evaluated again. Then rerun daily_job for it."""
    from orchestration.quality.cli import reprocess_report

    _use_config_dir(config_dir)
    settings, warehouse = _quality_target(source)
    out, _ = _consoles()
    out.print(reprocess_report(warehouse, settings, source, partition.date()), markup=False)


@app.command()
@guided
def dashboard(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 to let others in).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the dashboard.")] = 8050,
    config_dir: ConfigDir = None,
    verbose: Verbose = False,
) -> None:
    """Serve the dashboard (overview, departments, live, data quality) and the monthly reports, read-only,
    from the reporting layer: DuckDB's snapshot, or PostgreSQL through the BI role (WAREHOUSE_TARGET, PG*)."""
    from dashboard.app import serve
    from dashboard.data import connection_from_env
    from orchestration.settings import Settings

    _use_config_dir(config_dir)
    settings = Settings.load()
    out, _ = _consoles()
    conn, schema = connection_from_env(settings)
    out.print(
        f"dashboard on http://{host}:{port}/ (Chinese; English: ?lang=en), reading {schema}_reporting "
        f"from {conn.describe()}; monthly reports under {settings.data_dir / 'reports'}",
        markup=False,
    )
    serve(host, port, settings)


@bi_role_app.command("create")
@guided
def bi_role_create(
    role: Annotated[str, typer.Option(help="The role's name, e.g. bi_reader (lower case, digits, underscores).")],
    password_env: Annotated[
        str, typer.Option(help="The environment variable that holds the role's password (it is never printed).")
    ] = "BI_READER_PASSWORD",
    config_dir: ConfigDir = None,
    verbose: Verbose = False,
) -> None:
    """Create a login role that may only read <schema>_reporting and the marts (<schema>), now and after
    every rebuild; nothing on landing, staging, the quarantine or the alert outbox. Run it again to reset
    the password or repair the grants. DuckDB has no roles: BI tools open the read-only snapshot file."""
    from orchestration.reporting.access import create_bi_role
    from orchestration.settings import Settings
    from orchestration.warehouse import Warehouse

    _use_config_dir(config_dir)
    warehouse = Warehouse.from_settings(Settings.load())
    warehouse.check_reachable()
    schemas = create_bi_role(warehouse, role, password_env)
    out, _ = _consoles()
    out.print(f"role {role} may log in and read {', '.join(schemas)} (select only); password from ${password_env}",
              markup=False)  # fmt: skip


@app.command("monitoring-demo")
@guided
def monitoring_demo(
    steps: Annotated[int, typer.Option(min=0, help="Evaluations after the first.")] = 4,
    step_minutes: Annotated[int, typer.Option(min=1, help="Simulated minutes between two evaluations.")] = 60,
    days: Annotated[int, typer.Option(min=1, help="Days of history before the first evaluation.")] = 3,
    orders_per_day: Annotated[int, typer.Option(min=1, help="Work orders the demo systems start per day.")] = 60,
    seed: Annotated[int, typer.Option(help="Random seed of the demo systems.")] = 7,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the demo systems and the DuckDB warehouse are written (default: data/monitoring_demo)."
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Port of the local webhook receiver (0: any free one).")] = 8766,
    verbose: Verbose = False,
) -> None:
    """Live monitoring: alerts arrive at a local webhook receiver (printed) as the generator advances time."""
    from demo.monitoring import run

    options = {"data_dir": data_dir} if data_dir is not None else {}
    run(
        steps=steps,
        step_minutes=step_minutes,
        days=days,
        orders_per_day=orders_per_day,
        seed=seed,
        port=port,
        **options,
    )


def _command_line(ctx: typer.Context) -> str:
    """The command as a user would retype it: its path and the options given other than their defaults,
    recorded with a benchmark's results."""
    words = [ctx.command_path]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if value == param.default or param.name == "verbose" or value is None:
            continue
        flag = param.opts[0]
        words += [flag] if value is True else [flag, value.isoformat() if isinstance(value, datetime) else str(value)]
    return " ".join(words)


@benchmark_app.command("pipeline")
@guided
def benchmark_pipeline(
    ctx: typer.Context,
    runs: Annotated[int, typer.Option(min=1, help="About this many node runs in the demo systems.")] = 1_000_000,
    days: Annotated[int, typer.Option(min=1, help="Closed days of history.")] = 60,
    warehouse: Annotated[
        Warehouses, typer.Option(help="Where to run it (both: one after the other).")
    ] = Warehouses.duckdb,
    data_dir: Annotated[
        Path | None, typer.Option(help="Scratch directory (default: a new temporary one, removed).")
    ] = None,
    history_factors: Annotated[
        str, typer.Option(help="History lengths as multiples of --days, same orders per day: the one-day cost at each.")
    ] = "1,2",
    clock: Annotated[
        Clock, typer.Option(help="Commitments as configured, all on the wall clock, or all on the business calendar.")
    ] = Clock.config,
    seed: Annotated[int, typer.Option(help="Random seed of the demo systems.")] = 7,
    now: Annotated[
        str | None,
        typer.Option(
            help="Pin the instant the sources are seen at and the marts evaluated "
            "as of (ISO; naive = UTC, e.g. 2026-11-30T16:00:00Z) (default: the start "
            "of today in the business zone)."
        ),
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, help="One-day runs per history length (the median is reported).")] = 3,
    keep: Annotated[bool, typer.Option(help="Keep the warehouses and the scratch directory.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(help="Markdown file the results are written into (default: BENCHMARKS.md of the repository)."),
    ] = None,
    no_write: Annotated[bool, typer.Option(help="Print only; do not update the markdown file.")] = False,
    no_checks: Annotated[
        bool, typer.Option(help="Skip the data-quality checks the assets run (dbt tests run either way).")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """From the sources to every mart on about N node runs, stage by stage, with the one-day cost on top of
    the history; writes the tables into BENCHMARKS.md. Exit code 2 when a cross-check or a build fails."""
    from benchmarks.pipeline import BenchmarkOptions, parse_now, run

    run(
        BenchmarkOptions(
            runs=runs,
            days=days,
            warehouse=warehouse.value,
            data_dir=data_dir,
            history_factors=history_factors,
            clock=clock.value,
            seed=seed,
            now=parse_now(now) if now else None,
            repeat=repeat,
            keep=keep,
            output=output or BenchmarkOptions.output,
            no_write=no_write,
            no_checks=no_checks,
            command=_command_line(ctx),
        )
    )


@benchmark_app.command("reports")
@guided
def benchmark_reports(
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (its monthly results must be built).")],
    repeat: Annotated[int, typer.Option(min=1, help="Repetitions (the median is reported).")] = 3,
    out: Annotated[Path | None, typer.Option(help="Where to write the reports (default: a new temporary dir).")] = None,
    verbose: Verbose = False,
) -> None:
    """Time every department's monthly report from the warehouse the environment names (target: <= 10 s at 1M
    node runs)."""
    from benchmarks.reports import run

    out_console, _ = _consoles()
    first = datetime.strptime(month, "%Y-%m").date()
    out_console.print(run(first, repeat, out), markup=False)


@benchmark_app.command("jobs")
@guided
def benchmark_jobs(
    ctx: typer.Context,
    case: Annotated[
        JobsCase, typer.Option(help="The help-desk log's whole history, or the generated demo systems.")
    ] = JobsCase.helpdesk,
    warehouse: Annotated[
        Warehouses, typer.Option(help="Where to run it (both: one after the other).")
    ] = Warehouses.duckdb,
    instance: Annotated[
        Instances, typer.Option(help="Dagster's storage: deploy/dagster.yaml (SQLite) or dagster.postgres.yaml.")
    ] = Instances.sqlite,
    days: Annotated[
        list[int] | None,
        typer.Option(
            min=1,
            help="Demo case: closed days of history (default 60). Given more than once (--days 60 --days 365), each "
            "history is a case of its own and one more day is compared across them.",
        ),
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Run every case this many times, in turn.")] = 1,
    orders_per_day: Annotated[int, typer.Option(min=1, help="Demo case: work orders started per day.")] = 300,
    no_gx: Annotated[bool, typer.Option(help="Without the Great Expectations asset checks (dbt tests run).")] = False,
    no_work_bound: Annotated[
        bool,
        typer.Option(
            help="DuckDB: without the work bound after the history (benchmarks/work_bound.py: the hand-written "
            "script to the classified runs and rate rows, timed and compared with the marts)."
        ),
    ] = False,
    until: Annotated[
        str | None, typer.Option(help="Help-desk case: last day of the range, YYYY-MM-DD (default: its whole history).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Scratch directory (default: a temporary one, removed).")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the scratch directory, warehouses and Dagster storage.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(help="Markdown file the results are written into (default: BENCHMARKS.md of the repository)."),
    ] = None,
    no_write: Annotated[bool, typer.Option(help="Print only; do not update the markdown file.")] = False,
    verbose: Verbose = False,
) -> None:
    """The real Dagster jobs (reference, daily over the range, weekly, monthly, then one more day) on a
    deployment's instance: wall time split into orchestration, extraction, landing, dbt, checks and reports, events
    and peak memory per job; on DuckDB the work bound and the ratio of the dbt stage to it; writes the tables into
    BENCHMARKS.md. Exit code 2 when a job fails or the work bound differs from the marts."""
    from benchmarks.jobs import JobsOptions, run

    run(
        JobsOptions(
            case=case.value,
            warehouse=warehouse.value,
            instance=instance.value,
            days=tuple(days) if days and len(days) > 1 else (days or [60])[0],
            repeat=repeat,
            orders_per_day=orders_per_day,
            gx=not no_gx,
            work_bound=not no_work_bound,
            until=until,
            keep=keep,
            data_dir=data_dir,
            output=output or JobsOptions.output,
            no_write=no_write,
            command=_command_line(ctx),
        )
    )


@benchmark_app.command("monitoring")
@guided
def benchmark_monitoring(
    ctx: typer.Context,
    runs: Annotated[int, typer.Option(min=1, help="About this many historical node runs.")] = 1_000_000,
    days: Annotated[int, typer.Option(min=1, help="Days of history.")] = 60,
    warehouse: Annotated[OneWarehouse, typer.Option(help="Where to run it.")] = OneWarehouse.duckdb,
    evaluations: Annotated[int, typer.Option(min=0, help="15-minute evaluations after the first.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed of the demo systems.")] = 7,
    data_dir: Annotated[
        Path | None, typer.Option(help="Scratch directory (default: a temporary one, removed).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="Markdown file the results are written into (default: BENCHMARKS.md of the repository)."),
    ] = None,
    no_write: Annotated[bool, typer.Option(help="Print only; do not update the markdown file.")] = False,
    verbose: Verbose = False,
) -> None:
    """One live evaluation (land the changes, dbt current state, record, deliver) over about N historical
    runs, then every 15 simulated minutes; writes the table into BENCHMARKS.md."""
    from benchmarks.monitoring import MonitoringBenchmarkOptions, run

    run(
        MonitoringBenchmarkOptions(
            runs=runs,
            days=days,
            warehouse=warehouse.value,
            evaluations=evaluations,
            seed=seed,
            data_dir=data_dir,
            output=output or MonitoringBenchmarkOptions.output,
            no_write=no_write,
            command=_command_line(ctx),
        )
    )


class Grain(StrEnum):
    day = "day"
    week = "week"
    month = "month"


@app.command()
@guided
def whatif(
    first: Annotated[
        datetime,
        typer.Option("--from", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="First business day of the range."),
    ],
    last: Annotated[
        datetime,
        typer.Option(
            "--to", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="Last business day of the range (inclusive)."
        ),
    ],
    candidate: Annotated[
        Path | None,
        typer.Option(help="Candidate commitments file, in the format of commitments.yaml (validated the same way)."),
    ] = None,
    from_proposals: Annotated[
        bool,
        typer.Option(
            "--from-proposals",
            help="Use the calibration mart's proposals as the candidate (written under <data dir>/whatif/).",
        ),
    ] = False,
    grain: Annotated[Grain, typer.Option(help="Periods to judge and compare.")] = Grain.month,
    config_dir: ConfigDir = None,
    verbose: Verbose = False,
) -> None:
    """Judge the periods overlapping a range under a candidate commitments file into <schema>_whatif, never
    touching the published marts, and compare per node and segment: achievement rate now and under the
    candidate, runs that change state, flags that appear or disappear (table <schema>_whatif.whatif_comparison
    and a CSV under <data dir>/whatif/)."""
    from orchestration.settings import Settings
    from orchestration.warehouse import Warehouse
    from orchestration.whatif import propose, replay

    if last < first:
        raise typer.BadParameter("--to is before --from", param_hint="--to")
    if (candidate is None) == (not from_proposals):
        raise typer.BadParameter("give either --candidate FILE or --from-proposals", param_hint="--candidate")
    _use_config_dir(config_dir)
    out, _ = _consoles()
    settings = Settings.load()
    warehouse = Warehouse.from_settings(settings)
    warehouse.check_reachable()
    if candidate is None:
        candidate = settings.data_dir / "whatif" / "candidate_from_proposals.yaml"
        proposed = propose(settings, warehouse, candidate)
        out.print(f"candidate {candidate}: {_proposed(proposed)}")
    result = replay(settings, warehouse, candidate, first.date(), last.date(), grain.value)
    # Wide enough for every column when piped (rich assumes 80 columns off a terminal).
    Console(file=out.file, highlight=False, width=max(out.width, 160)).print(_comparison_table(result))
    frame = result.comparison
    nodes, segments = frame[frame.segment == "*"], frame[frame.segment != "*"]
    flags_nodes, flags_segments = (int((f.flag_change != "same").sum()) for f in (nodes, segments))
    out.print(
        f"{int(segments.changed_runs.sum())} run state(s) change; flags change on {flags_nodes} node(s), "
        f"{flags_segments} node segment(s). Table {result.schema}.whatif_comparison, runs in "
        f"{result.schema}.whatif_run_changes, csv {result.csv_path}"
    )


def _comparison_table(result):
    """The comparison as a rich table: one row per period, process, node and segment."""
    import pandas as pd
    from rich.table import Table

    def rate(value) -> str:
        return "-" if pd.isna(value) else f"{value:.1%}"

    def text(value) -> str:
        return "" if pd.isna(value) else str(value)

    table = Table(title=f"what-if {result.window_start}..{result.window_end} (end exclusive) in {result.schema}")
    for name in ("period", "process", "node", "segment", "runs", "achieved now", "candidate",
                 "changed", "flag now", "flag candidate", "flag"):  # fmt: skip
        table.add_column(name, justify="left" if name.startswith(("p", "n", "s", "f")) else "right", no_wrap=True)
    for r in result.comparison.itertuples():
        runs = 0 if pd.isna(r.evaluated_runs_candidate) else int(r.evaluated_runs_candidate)
        table.add_row(
            str(r.period_start_date)[:10], r.process_code, r.node_code, r.segment, f"{runs:,}",
            rate(r.achievement_rate_now), rate(r.achievement_rate_candidate), f"{int(r.changed_runs):,}",
            text(r.flag_now), text(r.flag_candidate), "" if r.flag_change == "same" else r.flag_change,
        )  # fmt: skip
    return table


@app.command()
@guided
def propose(
    out_file: Annotated[Path, typer.Option("--out", help="The candidate commitments file to write.")],
    month: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-01", help="Proposals of this month (default: the latest)."),
    ] = None,
    config_dir: ConfigDir = None,
    verbose: Verbose = False,
) -> None:
    """Write a candidate commitments file from the calibration mart's proposals (commitments.yaml with the
    proposed commitment and tolerance per version); try it with `commitments whatif --candidate`."""
    from orchestration.settings import Settings
    from orchestration.warehouse import Warehouse
    from orchestration.whatif import propose as write_proposals

    _use_config_dir(config_dir)
    out, _ = _consoles()
    settings = Settings.load()
    warehouse = Warehouse.from_settings(settings)
    warehouse.check_reachable()
    proposed = write_proposals(settings, warehouse, out_file, month.date() if month else None)
    out.print(f"wrote {out_file}: {_proposed(proposed)}")


def _proposed(proposed) -> str:
    return (
        f"{proposed.changed} version(s) changed, {proposed.added} segment line(s) added from the calibration "
        f"mart's proposals ({proposed.skipped} left out: the node has lines of that segment, or no segment)"
    )


def main() -> None:
    app(prog_name="commitments")
