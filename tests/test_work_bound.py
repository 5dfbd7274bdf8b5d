"""The benchmark's work bound (benchmarks/work_bound.py) against the marts of a real pipeline run.

The work bound is a hand-written DuckDB script from the landed tables to the classified runs and rate
rows; the benchmark times it beside the dbt stage and trusts its ratio only because the two agree row for
row. DuckDB only, by design: the script is a bound on the work on the warehouse the targets name, not a
second implementation to keep portable. Here: the demo world (interval sources, an entry-marked status
history with terminal and cancelling statuses, commitments on the wall clock and on the cn_office
business calendar) through the Dagster jobs, then the script must find every mart equal, and must see
one changed row.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import deployed_instance, isolated_pipeline, use_source, warehouse_of_env

pytestmark = pytest.mark.heavy  # a whole pipeline: scheduled first (conftest.py)

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST, LAST = date(2026, 3, 28), date(2026, 4, 2)  # closes ISO week 2026-03-23 and March
WINDOWS = {
    "day": (FIRST, LAST + timedelta(days=1)),
    "week": (date(2026, 3, 23), date(2026, 3, 30)),
    "month": (date(2026, 3, 1), date(2026, 4, 1)),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo sources as seen when LAST closed, through the reference, daily, weekly and monthly jobs."""

    from demo.generator import generate_truth, write_sources
    from demo.ticket_api_server import serve_in_background
    from orchestration.definitions import build_defs
    from orchestration.runner import run_job

    root = tmp_path_factory.mktemp("work_bound")
    with isolated_pipeline(root, "duckdb"), pytest.MonkeyPatch.context() as mp:
        for name in ("oa_workflow", "settlement_files", "ticket_api"):
            use_source(root, name)
        mp.setenv("OA_DB_URL", f"sqlite:///{root / 'sources' / 'oa_workflow.sqlite'}")
        seen_at = datetime.combine(LAST + timedelta(days=1), datetime.min.time(), SHANGHAI).astimezone(UTC)
        write_sources(generate_truth(FIRST, seen_at, 40, seed=5), root, seen_at, start=FIRST)
        server, url = serve_in_background(root / "sources" / "ticket_events.jsonl")
        mp.setenv("TICKET_API_URL", url)
        try:
            with deployed_instance() as instance:
                defs = build_defs()
                run_job(defs, "reference_job", instance)
                run_job(defs, "daily_job", instance, FIRST.isoformat(), LAST.isoformat())
                run_job(defs, "weekly_job", instance, "2026-03-23", "2026-03-23")
                run_job(defs, "monthly_job", instance, "2026-03-01", "2026-03-01")
        finally:
            server.shutdown()
        yield warehouse_of_env().schema_name


def _bound(schema: str):
    from benchmarks.work_bound import work_bound

    # Every period here closed before now, so as_of is each period's end whatever the cap.
    cap = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    with warehouse_of_env().connect() as conn:
        return work_bound(conn, schema, WINDOWS, cap)


def test_work_bound_equals_the_marts(built: str) -> None:
    with warehouse_of_env().connect() as conn:
        clocks = {row[0] for row in conn.execute(f"select distinct clock from {built}_landing.commitments").fetchall()}
        runs = conn.execute(f"select count(*) from {built}.node_run_states_daily").fetchone()[0]
    assert clocks == {"wall", "cn_office"} and runs > 500  # both clocks and a real volume are covered
    result = _bound(built)
    assert result.equal, result.details
    assert len(result.details) == 6 and all(d.endswith(", equal") for d in result.details)
    assert result.seconds > 0


def test_work_bound_sees_a_changed_mart_row(built: str) -> None:
    with warehouse_of_env().connect() as conn:
        conn.execute(
            f"update {built}.node_run_states_weekly set state = 'cancelled' where node_run_id = "
            f"(select min(node_run_id) from {built}.node_run_states_weekly where state <> 'cancelled')"
        )
    result = _bound(built)
    assert not result.equal
    assert "node_run_states_weekly: " in "; ".join(result.details)
    # The rate mart was built from the row before the change, so it still agrees with the script.
    differs = [d for d in result.details if "only in" in d]
    assert differs == [differs[0]] and differs[0].startswith("node_run_states_weekly: "), differs
    assert differs[0].endswith("1 only in the work bound, 1 only in the mart")


def test_the_windows_are_those_the_planned_runs_build() -> None:
    """The benchmarks compare the bound with the marts over the windows the planned runs of a history build
    (orchestration/runner.py planned_runs): its days, and its whole weeks and months, end exclusive."""
    from benchmarks.work_bound import period_windows
    from orchestration.periods import PeriodRange

    assert period_windows(PeriodRange(date(2026, 10, 2), date(2026, 11, 30))) == {
        "day": (date(2026, 10, 2), date(2026, 12, 1)),
        "week": (date(2026, 10, 5), date(2026, 11, 30)),
        "month": (date(2026, 11, 1), date(2026, 12, 1)),
    }
    # A range with no whole week or month builds days only.
    assert period_windows(PeriodRange(FIRST, LAST)) == {"day": WINDOWS["day"]}
