"""The README's first command: generate the demo systems, materialise recent periods, print a summary,
on DuckDB and, with the target set in the environment, on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import query, use_source

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)


def test_main_job_prints_the_summary(
    pipeline_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from demo.main import main

    for name in ("oa_workflow", "settlement_files", "ticket_api"):
        use_source(pipeline_env, name)
    monkeypatch.setenv("OA_DB_URL", "")  # the command points the sources at its demo systems
    monkeypatch.setenv("TICKET_API_URL", "")
    main(["--days", "14", "--orders-per-day", "15"])  # 14 days hold a whole ISO week
    out = capsys.readouterr().out
    assert "done: daily_job" in out and "done: weekly_job" in out
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
