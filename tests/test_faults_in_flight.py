"""Faults in flight: a run killed with SIGKILL mid-landing or mid-dbt leaves no partial partition and no
held pool slot, and the next run converges on the same marts; a run waiting for the pool stops on SIGTERM
or SIGINT; two processes on one DuckDB file wait for each other; every job reruns on a populated schema.
The processes killed are real subprocesses (tests/inflight_jobs.py) on a Dagster instance with pools."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from tests.conftest import (
    KEYS,
    PROJECT_DIR,
    RESULTS,
    deployed_instance,
    deployed_instance_home,
    isolated_pipeline,
    query,
    snapshot_marts,
    use_source,
)

pytestmark = pytest.mark.heavy  # whole pipelines per warehouse: scheduled first (conftest.py)

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2026, 3, 23), date(2026, 3, 31)  # Mon .. Tue: closes ISO week 2026-03-23, ends March
ORDERS_PER_DAY = 15
LANDING = ("status_events", "interval_runs", "quarantine", "extraction_log")


def end_of(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), SHANGHAI).astimezone(UTC)


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def instance_of(home: Path):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(home))


def spawn(log: Path, *args: str) -> subprocess.Popen:
    """A process of tests/inflight_jobs.py; its Dagster log (stderr) goes to `log`, its lines to a pipe."""
    with open(log, "w") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.inflight_jobs", *args],
            cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip


def run_to_end(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.inflight_jobs", *args],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def claimed(home: Path) -> list[str]:
    with instance_of(home) as instance:
        return [slot.run_id for slot in instance.event_log_storage.get_concurrency_info("warehouse").claimed_slots]


def runs_by_status(home: Path) -> dict[str, list[str]]:
    with instance_of(home) as instance:
        out: dict[str, list[str]] = {}
        for run in instance.get_runs():
            out.setdefault(run.status.value, []).append(run.job_name)
        return out


# --------------------------------------------------------------------------------------------------
# The pool slot of a killed run, and a run waiting for a slot (no warehouse needed)
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return deployed_instance_home()


def start_holder(home: Path) -> subprocess.Popen:
    holder = spawn(home / "holder.log", "hold")
    assert holder.stdout is not None
    assert "holder: in the warehouse pool" in holder.stdout.readline()
    return holder


def test_a_killed_runs_slot_is_freed_at_the_next_runs_start(home: Path) -> None:
    holder = start_holder(home)
    holder.kill()  # SIGKILL: no handler, no cleanup
    holder.wait()
    assert runs_by_status(home) == {"STARTED": ["holder"]} and len(claimed(home)) == 1  # today: blocks forever

    later = run_to_end("quick", timeout=120)
    assert later.returncode == 0, later.stderr
    assert "quick: done" in later.stdout
    assert f"process {holder.pid} is gone; marked failed, pool slots freed" in later.stderr
    assert runs_by_status(home) == {"SUCCESS": ["quick"], "FAILURE": ["holder"]}
    assert claimed(home) == []
    with instance_of(home) as instance:
        killed = next(r for r in instance.get_runs() if r.job_name == "holder")
        logs = instance.all_logs(killed.run_id)
        failure = [e.message for e in logs if e.is_dagster_event and e.dagster_event.is_run_failure]
        assert f"(pid {holder.pid} on" in failure[0] and "rerun its partitions" in failure[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_run_waiting_for_the_pool_stops_on_a_signal(home: Path, sig: signal.Signals) -> None:
    holder = start_holder(home)  # alive: the waiting run's sweep must leave it alone
    try:
        waiting = spawn(home / "quick.log", "quick")

        def blocked() -> bool:
            with instance_of(home) as instance:
                pending = instance.event_log_storage.get_concurrency_info("warehouse").pending_steps
                return any(step.assigned_timestamp is None for step in pending)

        wait_for(blocked, 120, "the quick run to wait for the pool")
        waiting.send_signal(sig)
        waiting.communicate(timeout=30)
        err = (home / "quick.log").read_text()
        assert waiting.returncode == 130
        assert "Interrupted while waiting for a slot of pool `warehouse`, held by run" in err
        assert f"(holder, pid {holder.pid} on" in err
        assert runs_by_status(home) == {"STARTED": ["holder"], "CANCELED": ["quick"]}
        with instance_of(home) as instance:
            info = instance.event_log_storage.get_concurrency_info("warehouse")
            assert [s.run_id for s in info.pending_steps] == [s.run_id for s in info.claimed_slots]  # only the holder
    finally:
        holder.kill()
        holder.wait()


def test_the_daemon_fails_a_stuck_run_and_frees_ended_runs_slots(home: Path) -> None:
    """The daemon deployment (its run launcher cannot see a dead worker): run monitoring fails a run that
    outlives its limit, 15 minutes for an evaluation, and frees the slots an ended run still holds."""
    import yaml

    from orchestration.monitoring.job import RUN_TAGS

    with instance_of(home) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 60
        assert instance.run_monitoring_max_runtime_seconds == 14400
    production = yaml.safe_load((PROJECT_DIR / "deploy" / "dagster.postgres.yaml").read_text())["run_monitoring"]
    assert production == yaml.safe_load((PROJECT_DIR / "deploy" / "dagster.yaml").read_text())["run_monitoring"]
    assert RUN_TAGS["dagster/max_runtime"] == "900"


# --------------------------------------------------------------------------------------------------
# The pipeline killed mid-landing and mid-dbt, then rerun (both warehouses)
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def demo_env(tmp_path: Path, warehouse_target: str) -> Iterator[Path]:
    """An isolated pipeline over the demo's SQL database and file drops, written once for a fixed `now`."""
    from demo.generator import generate_truth, write_sources

    with isolated_pipeline(tmp_path, warehouse_target) as root, pytest.MonkeyPatch.context() as mp:
        for name in ("oa_workflow", "settlement_files"):
            use_source(root, name)
        mp.setenv("OA_DB_URL", f"sqlite:///{root / 'sources' / 'oa_workflow.sqlite'}")
        truth = generate_truth(FIRST, end_of(LAST), ORDERS_PER_DAY, seed=3)
        write_sources(truth, root, end_of(LAST), start=FIRST)
        yield root


def day_and_week_marts() -> dict[str, pd.DataFrame]:
    """The marts the pipeline driver builds (its days hold a whole ISO week, not a whole month), in key order."""
    frames = {}
    for table in RESULTS:
        if not table.endswith("_monthly"):
            key = KEYS[table.rsplit("_", 1)[0]]
            frames[table] = query(f"select * from {{s}}.{table}").sort_values(key).reset_index(drop=True)
    return frames


def landing_snapshot() -> dict[str, pd.DataFrame]:
    frames = {}
    for table in LANDING:
        frame = query(f"select * from {{s}}_landing.{table}")
        frames[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return frames


def assert_same(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame], ignore: tuple[str, ...] = ()) -> None:
    assert set(got) == set(want)
    for table in want:
        cols = [c for c in want[table].columns if c not in ignore]
        pd.testing.assert_frame_equal(got[table][cols], want[table][cols], check_dtype=False, obj=table)


def test_a_run_killed_mid_landing_or_mid_dbt_leaves_no_partial_partition_and_the_rerun_converges(
    demo_env: Path,
) -> None:
    home = deployed_instance_home()
    days = (FIRST.isoformat(), LAST.isoformat())
    baseline = run_to_end("pipeline", *days)
    assert baseline.returncode == 0, baseline.stderr
    marts, landed = day_and_week_marts(), landing_snapshot()
    assert len(marts["node_run_states_daily"]) > 100 and len(landed["interval_runs"]) > 100

    # Killed inside the first landing transaction (landing and quarantine rows written, the log not yet):
    # the partition keeps its previous load whole, extraction times included.
    killed = run_to_end("pipeline", *days, "--kill-in-landing")
    assert killed.returncode == -signal.SIGKILL
    assert_same(landing_snapshot(), landed)
    assert runs_by_status(home)["STARTED"] == ["daily_job"] and len(claimed(home)) == 1

    # Killed inside the daily job's dbt build (dbt runs in the run's process), the first day mart committed
    # and the others not yet built: the first killed run is swept, this one holds the slot.
    killed = run_to_end("pipeline", *days, "--kill-in-dbt")
    assert killed.returncode == -signal.SIGKILL
    assert "is gone; marked failed, pool slots freed" in killed.stderr
    assert runs_by_status(home)["STARTED"] == ["daily_job"] and len(claimed(home)) == 1

    # The next run frees the slot itself, completes, and gives the baseline's marts and landing.
    rerun = run_to_end("pipeline", *days)
    assert rerun.returncode == 0, rerun.stderr
    assert "is gone; marked failed, pool slots freed" in rerun.stderr
    statuses = runs_by_status(home)
    assert set(statuses) == {"SUCCESS", "FAILURE"} and sorted(statuses["FAILURE"]) == ["daily_job", "daily_job"]
    assert claimed(home) == []
    assert_same(day_and_week_marts(), marts)
    assert_same(landing_snapshot(), landed, ignore=("extracted_at",))


# --------------------------------------------------------------------------------------------------
# Every job twice on the same schema (both warehouses)
# --------------------------------------------------------------------------------------------------


def test_every_job_reruns_on_a_populated_schema(demo_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Today the second reference_job fails on PostgreSQL: its landing tables were dropped under the views."""
    import yaml

    from demo.monitoring import run_evaluation, write_demo_alerts
    from orchestration.definitions import build_defs
    from orchestration.runner import run_job

    alerts = write_demo_alerts(demo_env / "alerts.yaml", history_days=3)
    config = yaml.safe_load(alerts.read_text(encoding="utf-8"))
    config["routes"] = [{"department": "*", "channels": ["operations_log"]}]
    alerts.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ALERTS_FILE", str(alerts))
    snapshots = []
    with deployed_instance() as instance:
        defs = build_defs()
        for _ in range(2):
            run_job(defs, "reference_job", instance)
            run_job(defs, "daily_job", instance, FIRST.isoformat(), LAST.isoformat())
            run_job(defs, "weekly_job", instance, "2026-03-23", "2026-03-23")
            run_job(defs, "monthly_job", instance, "2026-03-01", "2026-03-01")
            run_evaluation(defs, instance, end_of(LAST))
            open_runs = query("select * from {s}.open_run_states")
            snapshots.append(
                {**snapshot_marts(), "open_run_states": open_runs.sort_values("node_run_id").reset_index(drop=True)}
            )
    first, second = snapshots
    assert len(first["achievement_rates_monthly"]) > 0 and len(first["open_run_states"]) > 0
    assert_same(second, first)


# --------------------------------------------------------------------------------------------------
# Two processes on one DuckDB file
# --------------------------------------------------------------------------------------------------


def hold_duckdb(path: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('locked', flush=True); time.sleep({seconds})"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture
def duckdb_env(tmp_path: Path) -> Iterator[Path]:
    with isolated_pipeline(tmp_path, "duckdb"):
        yield Path(os.environ["WAREHOUSE_DUCKDB_PATH"])


def test_a_second_process_waits_for_the_duckdb_writer(duckdb_env: Path) -> None:
    from tests.conftest import warehouse_of_env

    holder = hold_duckdb(duckdb_env, 3)
    began = time.monotonic()
    assert int(warehouse_of_env().query("select 42 as n").n.iloc[0]) == 42
    assert time.monotonic() - began > 1.5  # it waited for the holder rather than failing
    holder.wait()


def test_a_step_keeps_the_duckdb_file_open_while_it_runs_and_no_longer(duckdb_env: Path) -> None:
    """A warehouse step keeps its DuckDB file open in its own process (warehouse.keeps_duckdb_open), so its
    connections join the open database; another process (the next step may be another run's) gets the file as
    soon as the step ends, whether it returned, yielded its last event or failed, with what it wrote."""
    from orchestration.warehouse import Warehouse, keeps_duckdb_open
    from tests.conftest import warehouse_of_env

    def another_process(sql: str) -> subprocess.CompletedProcess:
        script = f"import duckdb; print(duckdb.connect({str(duckdb_env)!r}).execute({sql!r}).fetchall())"
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)

    def held() -> bool:
        probe = another_process("select 1")
        assert probe.returncode == 0 or "Could not set lock" in probe.stderr, probe.stderr
        return probe.returncode != 0

    @keeps_duckdb_open
    def writes(warehouse: Warehouse) -> bool:
        for n in range(3):  # one connection per operation, each joining the file kept open
            warehouse.execute(f"insert into kept values ({n})")
        return held()

    @keeps_duckdb_open
    def yields(warehouse: Warehouse) -> Iterator[bool]:
        yield held()
        yield int(warehouse.query("select count(*) as n from kept").n.iloc[0]) == 3

    @keeps_duckdb_open
    def fails(warehouse: Warehouse) -> None:
        raise RuntimeError("the step failed")

    warehouse = warehouse_of_env()
    warehouse.execute("create table kept (n integer)")
    assert not held()
    assert writes(warehouse=warehouse) and not held()
    assert another_process("select count(*) from kept").stdout.strip() == "[(3,)]"
    assert list(yields(warehouse=warehouse)) == [True, True] and not held()
    with pytest.raises(RuntimeError, match="the step failed"):
        fails(warehouse=warehouse)
    assert not held()


def test_the_wait_for_the_duckdb_file_ends_with_a_clear_message(
    duckdb_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.warehouse import WarehouseBusy
    from tests.conftest import warehouse_of_env

    monkeypatch.setenv("WAREHOUSE_LOCK_WAIT_SECONDS", "1")
    holder = hold_duckdb(duckdb_env, 60)
    try:
        with pytest.raises(WarehouseBusy) as busy:
            warehouse_of_env().query("select 1")
        message = str(busy.value)
        assert f"DuckDB file {duckdb_env} is still in use by another process after 1 s" in message
        assert f"(PID {holder.pid})" in message and "set WAREHOUSE_LOCK_WAIT_SECONDS to wait longer" in message
    finally:
        holder.kill()
        holder.wait()


def test_dbt_waits_for_the_duckdb_writer(duckdb_env: Path) -> None:
    from orchestration.settings import DBT_EXECUTABLE, DBT_PROJECT_DIR

    holder = hold_duckdb(duckdb_env, 20)  # longer than dbt takes to start
    dbt = subprocess.run(
        [DBT_EXECUTABLE, "debug", "--connection", "--project-dir", str(DBT_PROJECT_DIR),
         "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=DBT_PROJECT_DIR, capture_output=True, text=True, timeout=300, env=os.environ,
    )  # fmt: skip
    holder.wait()
    assert dbt.returncode == 0, dbt.stdout
    assert "OK connection ok" in dbt.stdout
