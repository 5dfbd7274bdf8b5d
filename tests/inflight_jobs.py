"""The processes tests/test_faults_in_flight.py kills, interrupts and reruns, each on the Dagster instance
under DAGSTER_HOME and the warehouse the environment names:

    python -m tests.inflight_jobs pipeline FIRST LAST   # reference, daily, weekly over the days (run_periods)
    python -m tests.inflight_jobs pipeline FIRST LAST --kill-in-landing
        # the same, killed with SIGKILL inside the first landing transaction: landing and quarantine rows
        # written, the extraction log not yet, nothing committed
    python -m tests.inflight_jobs pipeline FIRST LAST --kill-in-dbt
        # the same, killed with SIGKILL inside the daily job's dbt build, once it has committed the first day
        # mart (node_run_states_daily) and before the others
    python -m tests.inflight_jobs hold    # a run that takes the `warehouse` pool slot and keeps it
    python -m tests.inflight_jobs quick   # a run with one step in the `warehouse` pool
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import date


def pipeline(first: str, last: str, kill_in_landing: bool, kill_in_dbt: bool) -> None:
    from dagster import DagsterInstance

    from orchestration.definitions import build_defs
    from orchestration.landing.tables import QUARANTINE
    from orchestration.periods import PeriodRange
    from orchestration.runner import run_periods
    from orchestration.warehouse import Warehouse

    if kill_in_landing:
        insert = Warehouse._insert

        def insert_then_die(self, conn, qualified, frame, skip_existing):  # type: ignore[no-untyped-def]
            inserted = insert(self, conn, qualified, frame, skip_existing)
            if qualified.endswith(f".{QUARANTINE.name}"):
                os.kill(os.getpid(), signal.SIGKILL)
            return inserted

        Warehouse._insert = insert_then_die  # type: ignore[method-assign]
    if kill_in_dbt:
        from dbt.cli.main import dbtRunner

        start = dbtRunner.__init__

        def die_after_first_day_mart(msg) -> None:  # type: ignore[no-untyped-def]
            if msg.info.name == "LogModelResult" and msg.data.node_info.node_name == "node_run_states_daily":
                os.kill(os.getpid(), signal.SIGKILL)

        def with_kill(self, manifest=None, callbacks=None):  # type: ignore[no-untyped-def]
            start(self, manifest, [*(callbacks or []), die_after_first_day_mart])

        dbtRunner.__init__ = with_kill  # type: ignore[method-assign]
    with DagsterInstance.get() as instance:
        periods = PeriodRange(date.fromisoformat(first), date.fromisoformat(last))
        for step in run_periods(build_defs(), instance, periods):
            print(f"done: {step}", flush=True)


def pool_job(name: str, seconds: float) -> None:
    from dagster import DagsterInstance, Definitions, job, op

    from orchestration.runner import run_job

    @op(pool="warehouse")
    def step() -> None:
        print(f"{name}: in the warehouse pool", flush=True)
        time.sleep(seconds)

    @job(name=name)
    def the_job() -> None:
        step()

    with DagsterInstance.get() as instance:
        run_job(Definitions(jobs=[the_job]), name, instance)
    print(f"{name}: done", flush=True)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "pipeline":
        pipeline(sys.argv[2], sys.argv[3], "--kill-in-landing" in sys.argv, "--kill-in-dbt" in sys.argv)
    elif command == "hold":
        pool_job("holder", 600)
    else:
        pool_job("quick", 0)
