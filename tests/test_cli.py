"""The operator's command line, `commitments`: help on every command and option, the demo and a backfill
with one line per job and the logs in a file, and one clear line instead of a traceback when the warehouse
or a source cannot be reached or the configuration is wrong."""

from __future__ import annotations

import io
import re
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from commitments_cli.app import app
from commitments_cli.runlog import RunLog
from tests.conftest import PROJECT_DIR, query, use_source

pytestmark = pytest.mark.heavy  # the demo and backfills build whole pipelines per warehouse: scheduled first

MINIMAL_CONFIG = PROJECT_DIR / "tests" / "fixtures" / "config_minimal"
# What Dagster's and dbt's own log lines look like; none reaches the console without --verbose.
LOG_LINES = re.compile(r"STEP_SUCCESS|RUN_START|Running with dbt|Concurrency: |OK created|dagster - (DEBUG|INFO)")


@pytest.fixture(autouse=True)
def restore_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands set these for the process they run in (--config-dir, the demo's systems, the Dagster
    home); in a test that process is pytest's, so they are put back afterwards."""
    import os

    for name in ("COMMITMENTS_CONFIG_DIR", "OA_DB_URL", "TICKET_API_URL", "DAGSTER_HOME"):
        was_set = name in os.environ
        monkeypatch.setenv(name, os.environ.get(name, ""))  # recorded: restored (or removed) after the test
        if not was_set:
            monkeypatch.delenv(name)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), prog_name="commitments")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_lines(output: str) -> dict[str, str]:
    """The per-job progress lines: job -> the line (partitions, seconds, ok/failed)."""
    jobs = {}
    for line in output.splitlines():
        m = re.match(r"\s+(reference_job|daily_job|weekly_job|monthly_job)\s+(\S+)\s+([\d.]+) s\s+(ok|failed)$", line)
        if m:
            jobs[m.group(1)] = line
    return jobs


def log_file(output: str) -> Path:
    (path,) = re.findall(r"^log: (.+)$", output, flags=re.MULTILINE)
    return Path(path)


# --- help ------------------------------------------------------------------------------------------------


def test_every_command_and_option_has_help() -> None:
    root = typer.main.get_command(app)
    commands: list[tuple[list[str], Any]] = []

    def walk(path: list[str], command: Any) -> None:
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                walk([*path, name], sub)
        else:
            commands.append((path, command))

    walk([], root)
    names = {" ".join(p) for p, _ in commands}
    assert names == {"demo", "backfill", "quality list", "quality reprocess", "monitoring-demo",
                     "benchmark pipeline", "benchmark monitoring", "benchmark jobs", "benchmark reports",
                     "dashboard", "bi-role create", "whatif", "propose"}  # fmt: skip
    for path, command in commands:
        assert command.help, f"{path} has no help"
        result = invoke(*path, "--help")
        assert result.exit_code == 0, result.output
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"commitments {' '.join(path)} {param.opts[0]} has no help"
                assert param.opts[0] in result.output


def test_the_entry_point_is_installed() -> None:
    script = Path(sys.executable).parent / "commitments"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "backfill" in result.stdout and "quality" in result.stdout


# --- errors: one line, no traceback -----------------------------------------------------------------------


def test_demo_against_an_unreachable_postgres_says_so_in_one_line_and_generates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("COMMITMENTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_TARGET", "postgres")
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(port))
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGDATABASE", "test")
    result = invoke("demo", "--days", "2")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert f"postgres at 127.0.0.1:{port}" in lines[0] and "Connection refused" in lines[0]
    assert "PGHOST" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "sources").exists()  # the demo sources were not generated
    verbose = invoke("demo", "--days", "2", "--verbose")
    assert verbose.exit_code == 2 and "Traceback" in verbose.output and "WarehouseUnreachable" in verbose.output
    # The old entry point is the same command.
    old = subprocess.run([sys.executable, "-m", "demo.main", "--days", "2"], capture_output=True, text=True,
                         cwd=PROJECT_DIR, timeout=300)  # fmt: skip
    assert old.returncode == 2 and old.stderr.strip() == lines[0] and not old.stdout.strip()


def test_a_configuration_error_is_one_paragraph_with_exit_code_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "config"
    shutil.copytree(MINIMAL_CONFIG, config)
    broken = (config / "sources" / "repairs.yaml").read_text(encoding="utf-8") + "freshness: {warn_after: soon}\n"
    (config / "sources" / "repairs.yaml").write_text(broken, encoding="utf-8")
    monkeypatch.setenv("COMMITMENTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_TARGET", "duckdb")
    monkeypatch.setenv("WAREHOUSE_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.delenv("COMMITMENTS_SOURCES_DIR", raising=False)
    result = invoke("backfill", "--from", "2026-03-02", "--to", "2026-03-02", "--config-dir", str(config))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("configuration error:")]
    assert "repairs.yaml" in error and "'soon' is not a duration" in error
    assert "job" not in result.output  # stopped before any job ran


def test_an_unreachable_sql_source_is_one_line_with_source_host_and_port_and_no_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orchestration.periods import Window
    from orchestration.settings import Settings
    from orchestration.sources.config import load_source
    from orchestration.sources.errors import SOURCE_UNREACHABLE, SourceRejected
    from orchestration.sources.read import read

    port = closed_port()
    monkeypatch.setenv("OA_DB_URL", f"mysql+pymysql://reader:s3cret-pw@127.0.0.1:{port}/oa")
    settings = Settings.load()
    cfg = load_source(PROJECT_DIR / "config" / "sources" / "oa_workflow.yaml", settings)
    with pytest.raises(SourceRejected) as caught:
        read(cfg, Window.for_days(date(2026, 10, 1), date(2026, 10, 1), settings.business_time_zone))
    message = str(caught.value)
    assert message.startswith("source oa_workflow: cannot connect on mysql+pymysql://reader:***@127.0.0.1:")
    assert f"127.0.0.1:{port}" in message and "limits.connect_timeout" in message
    assert "\n" not in message and "s3cret" not in message
    assert caught.value.reason_code == SOURCE_UNREACHABLE


def test_a_failing_query_on_a_reachable_source_keeps_its_own_error(tmp_path: Path, monkeypatch) -> None:

    from orchestration.periods import Window
    from orchestration.settings import Settings
    from orchestration.sources.config import load_source
    from orchestration.sources.errors import SOURCE_QUERY_FAILED, SourceRejected
    from orchestration.sources.read import read

    monkeypatch.setenv("OA_DB_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")  # no tables
    settings = Settings.load()
    cfg = load_source(PROJECT_DIR / "config" / "sources" / "oa_workflow.yaml", settings)
    with pytest.raises(SourceRejected) as caught:
        read(cfg, Window.for_days(date(2026, 10, 1), date(2026, 10, 1), settings.business_time_zone))
    assert caught.value.reason_code == SOURCE_QUERY_FAILED and "no such table: wf_task" in str(caught.value)


# --- the run log ------------------------------------------------------------------------------------------


def test_the_run_log_takes_this_process_and_its_children_output_and_echoes_it_only_when_asked(tmp_path: Path):
    quiet, loud = tmp_path / "quiet.log", tmp_path / "loud.log"
    with RunLog(quiet):
        print("from python")
        subprocess.run([sys.executable, "-c", "import sys; print('from a child'); print('err', file=sys.stderr)"])
    assert quiet.read_text().splitlines() == ["from python", "from a child", "err"]
    echo = io.StringIO()
    with RunLog(loud, echo=echo):
        print("shown with --verbose")
    assert loud.read_text() == echo.getvalue() == "shown with --verbose\n"


def test_the_run_log_ends_with_its_block_though_a_process_it_started_lives_on(tmp_path: Path) -> None:
    """A process started in the block that outlives it (multiprocessing's resource tracker does, for one) holds
    the pipe: the command must not wait for that process, nor lose what was written before the block ended."""
    path = tmp_path / "run.log"
    with RunLog(path):
        lingering = subprocess.Popen(
            [sys.executable, "-c", "import time; print('from a lingering child', flush=True); time.sleep(60)"]
        )
        deadline = time.monotonic() + 30
        while "from a lingering child" not in path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        print("last line of the block")
        leaving = time.monotonic()
    left_after = time.monotonic() - leaving
    lingering.kill()
    lingering.wait()
    assert path.read_text().splitlines() == ["from a lingering child", "last line of the block"]
    assert left_after < 5, f"the block took {left_after:.1f} s to end: it waited for the lingering process"


# --- the commands end to end ------------------------------------------------------------------------------


def test_backfill_on_the_minimal_configuration(pipeline_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMMITMENTS_SOURCES_DIR")  # the configuration directory's own sources/
    result = invoke("backfill", "--from", "2026-03-02", "--to", "2026-03-03", "--config-dir", str(MINIMAL_CONFIG))
    assert result.exit_code == 0, result.output
    jobs = job_lines(result.output)
    assert list(jobs) == ["reference_job", "daily_job"]  # no whole week or month in two days
    assert "2026-03-02...2026-03-03" in jobs["daily_job"]
    assert all(line.endswith(" ok") for line in jobs.values())
    assert "repairs" in result.output.split("data quality per source")[1]
    assert not LOG_LINES.search(result.output), result.output
    log = log_file(result.output)
    assert log.parent == pipeline_env / "logs" and LOG_LINES.search(log.read_text(encoding="utf-8"))
    runs = query("select work_order_id, node_code from {s}.fct_node_runs")
    assert runs.values.tolist() == [["T-1", "FIX"]]

    listed = invoke("quality", "list", "--source", "repairs", "--partition", "2026-03-02",
                    "--config-dir", str(MINIMAL_CONFIG))  # fmt: skip
    assert listed.exit_code == 0 and "0 quarantined rows of repairs on 2026-03-02" in listed.output
    assert invoke("quality", "list", "--source", "nope", "--partition", "2026-03-02").exit_code != 0


def test_demo_prints_progress_per_job_and_the_summary_and_logs_to_a_file(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("oa_workflow", "settlement_files", "ticket_api"):
        use_source(pipeline_env, name)
    monkeypatch.setenv("OA_DB_URL", "")  # the command points the sources at its demo systems
    monkeypatch.setenv("TICKET_API_URL", "")
    result = invoke("demo", "--days", "14", "--orders-per-day", "15")  # 14 days hold a whole ISO week
    out = result.output
    assert result.exit_code == 0, out
    assert re.search(r"demo sources in .*: oa_workflow [\d,]+ rows", out)
    jobs = job_lines(out)
    assert {"reference_job", "daily_job", "weekly_job"} <= set(jobs)
    assert all(line.endswith(" ok") for line in jobs.values())
    assert out.index("reference_job") < out.index("daily_job") < out.index("weekly_job")
    assert "weekly results for week:" in out
    for process in ("BROADBAND", "COMPLAINT", "REMUNERATION"):
        assert process in out
    assert "%" in out
    # Remuneration settlement runs on the China business calendar: the summary shows wall vs working time.
    assert "business clocks, weekly" in out and "cn_office" in out
    clocks = query(
        "select clock, sum(wall_seconds) as wall, sum(run_seconds) as run from {s}.node_run_states_weekly "
        "where process_code = 'REMUNERATION' and run_status = 'completed' group by clock"
    )
    assert list(clocks.clock) == ["cn_office"]
    assert float(clocks.run.iloc[0]) < float(clocks.wall.iloc[0]) / 2  # 7.5 working hours in a 24-hour day
    assert "data quality per source" in out and "settlement_files" in out.split("data quality per source")[1]
    days = query("select count(distinct period_id) as n from {s}.achievement_rates_daily").n.iloc[0]
    assert int(days) == 14
    # Dagster's and dbt's lines are in the log file, not on the console.
    assert not LOG_LINES.search(out) and "Warning" not in out
    assert LOG_LINES.search(log_file(out).read_text(encoding="utf-8"))
    assert re.search(r"finished in \d+ s", out)


def test_a_backfill_whose_source_is_unreachable_stops_with_the_failed_step_and_its_reason(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = pipeline_env / "config"
    shutil.copytree(MINIMAL_CONFIG, config)
    (config / "sources" / "repair_db.yaml").write_text(
        "name: repair_db\nkind: sql\nconnection: {url_env: REPAIR_DB_URL}\n"
        "query: SELECT ticket, step, started, finished, changed FROM repairs\n"
        "time_zone: Europe/Berlin\nshape: intervals\n"
        "columns: {work_order_id: ticket, node: step, start_at: started, end_at: finished, changed_at: changed}\n"
        "process: REPAIR\nnodes:\n  REPAIR: {fix: FIX}\n",
        encoding="utf-8",
    )
    port = closed_port()
    monkeypatch.setenv("REPAIR_DB_URL", f"postgresql+psycopg2://etl:hunter2@127.0.0.1:{port}/repairs")
    monkeypatch.delenv("COMMITMENTS_SOURCES_DIR")
    result = invoke("backfill", "--from", "2026-03-02", "--to", "2026-03-02", "--config-dir", str(config))
    assert result.exit_code == 1, result.output
    jobs = job_lines(result.output)
    assert jobs["reference_job"].endswith(" ok") and jobs["daily_job"].endswith(" failed")
    reason = f"landing__repair_db: source repair_db: cannot connect on postgresql+psycopg2://etl:***@127.0.0.1:{port}/"
    assert reason in result.output
    assert "Traceback" not in result.output and "hunter2" not in result.output
    assert not LOG_LINES.search(result.output)
    assert "stopped after" in result.output and log_file(result.output).exists()


def test_progress_shows_each_step_live_and_one_line_per_job_with_the_failed_steps_reason() -> None:
    from dagster import DagsterInstance, Definitions, asset, define_asset_job
    from rich.console import Console

    from commitments_cli.progress import run_with_progress
    from orchestration.runner import JobRun
    from orchestration.sources.errors import SourceRejected

    @asset
    def landed_rows() -> int:
        return 1

    @asset
    def judged_rows(landed_rows: int) -> int:
        return landed_rows

    @asset
    def rejected_drop() -> int:
        raise SourceRejected("source drops, file jiesuan_20261024.csv: missing columns ['记录编号']")

    defs = Definitions(
        assets=[landed_rows, judged_rows, rejected_drop],
        jobs=[define_asset_job("good_job", selection=["landed_rows", "judged_rows"]),
              define_asset_job("bad_job", selection=["rejected_drop"])],
    )  # fmt: skip
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200)
    with DagsterInstance.ephemeral() as instance:
        outcomes = run_with_progress(
            defs, instance, [JobRun("good_job"), JobRun("bad_job"), JobRun("good_job")], console
        )
    assert [(o.run.job, o.ok) for o in outcomes] == [("good_job", True), ("bad_job", False)]  # stops at the failure
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # without the terminal's colours
    assert "good_job: judged_rows" in text and "2/2" in text  # the live bar named the running step
    assert re.search(r"good_job\s+-\s+[\d.]+ s  .*ok", text)
    assert re.search(r"bad_job\s+-\s+[\d.]+ s  .*failed", text)
    assert outcomes[1].failures == [
        "rejected_drop: source drops, file jiesuan_20261024.csv: missing columns ['记录编号']"
    ]
    assert "rejected_drop: source drops" in text and "Traceback" not in text
