"""The jobs benchmark's targets that compare runs (benchmarks/jobs.py `side_by_side`): one more day against
5 s, after a long history against after a short one, PostgreSQL against DuckDB; and the command that runs
several histories in turn."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from benchmarks import jobs
from benchmarks.jobs import CaseResult, JobFigures, JobsOptions, side_by_side


def _case(warehouse: str, days: int, history: float, one_more_day: float, failure: str = "") -> CaseResult:
    def job(name: str, wall: float) -> JobFigures:
        return JobFigures(name, "", wall, dict.fromkeys(jobs.STAGES, wall / len(jobs.STAGES)), {}, {}, (0.0, 0.0))

    return CaseResult("demo", warehouse, "sqlite", f"{days} days", {}, [job("reference_job", 1.0),
                      job("daily_job", history - 1.0), job("one more day", one_more_day)], node_runs=1000,
                      failure=failure, days=days)  # fmt: skip


def test_one_more_day_is_compared_across_histories_and_warehouses() -> None:
    lines = side_by_side([
        _case("duckdb", 60, 40.0, 3.0), _case("duckdb", 365, 90.0, 3.6),
        _case("duckdb", 60, 44.0, 2.8), _case("duckdb", 365, 80.0, 3.2),
        _case("postgres", 60, 100.0, 5.0),
        _case("duckdb", 365, 80.0, 9.0, failure="daily_job failed"),  # a failed run compares nothing
    ])  # fmt: skip
    assert lines == [
        "- one more day after 60 days of demo history, DuckDB, instance sqlite: 2.90 s (mean of 3.0, 2.8): "
        "met (<= 5 s)",
        "- one more day after 365 days of demo history, DuckDB, instance sqlite: 3.40 s (mean of 3.6, 3.2): "
        "met (<= 5 s)",
        "- one more day after 365 against after 60 days of demo history, duckdb, instance sqlite: 3.40 / 2.90 s = "
        "**1.17x**: met (within 1.2x)",
        "- PostgreSQL against DuckDB, 60 days of demo history (1,000 node runs), instance sqlite: history 100.0 s "
        "against 42.00 s (mean of 40.0, 44.0) = **2.38x**: **NOT met** (within 2x; the target is at 1M node runs); "
        "one more day 1.72x",
    ]


def test_a_day_that_grows_with_history_is_not_met() -> None:
    lines = side_by_side([_case("duckdb", 60, 40.0, 4.0), _case("duckdb", 365, 90.0, 5.2)])
    assert lines[1].endswith("5.2 s: **NOT met** (<= 5 s)")
    assert lines[2].endswith("5.20 / 4.00 s = **1.30x**: **NOT met** (within 1.2x)")
    assert side_by_side([_case("duckdb", 60, 40.0, 4.0)]) == [lines[0]]  # one history: nothing to compare


def test_several_histories_run_in_turn_and_are_compared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--days 60,365 --repeat 2`: each history its own child, alternating, in scratch directories of their
    own; the report compares them."""
    ran: list[tuple[str, int]] = []
    real_run = subprocess.run

    def child(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        if "--child" not in command:  # the report's own commands (git, the machine's description)
            return real_run(command, **kwargs)
        opts = json.loads(command[command.index("--child") + 1])
        ran.append((Path(opts["scratch"]).name, opts["days"]))
        result = _case("duckdb", opts["days"], 50.0, 3.0 if opts["days"] == 60 else 3.3)
        Path(command[command.index("--child-out") + 1]).write_text(json.dumps(asdict(result)))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(jobs.subprocess, "run", child)
    output = tmp_path / "BENCHMARKS.md"
    jobs.main(["--case", "demo", "--days", "60,365", "--repeat", "2", "--no-work-bound",
               "--data-dir", str(tmp_path / "scratch"), "--output", str(output)])  # fmt: skip
    assert ran == [("demo-duckdb-sqlite-60d-1", 60), ("demo-duckdb-sqlite-365d-1", 365),
                   ("demo-duckdb-sqlite-60d-2", 60), ("demo-duckdb-sqlite-365d-2", 365)]  # fmt: skip
    text = output.read_text()
    assert "### The targets that compare runs" in text
    assert "3.30 / 3.00 s = **1.10x**: met (within 1.2x)" in text
    assert JobsOptions().days == 60 and JobsOptions().repeat == 1


@pytest.mark.parametrize(
    ("args", "days", "repeat"),
    [([], 60, 1), (["--days", "30"], 30, 1), (["--days", "60", "--days", "365", "--repeat", "3"], (60, 365), 3)],
)
def test_the_command_passes_the_histories_on(monkeypatch: pytest.MonkeyPatch, args: list[str], days, repeat) -> None:
    from typer.testing import CliRunner

    from commitments_cli.app import app

    seen: list[JobsOptions] = []
    monkeypatch.setattr(jobs, "run", seen.append)
    done = CliRunner().invoke(app, ["benchmark", "jobs", "--case", "demo", "--no-write", *args])
    assert done.exit_code == 0, done.output
    assert (seen[0].days, seen[0].repeat) == (days, repeat)
