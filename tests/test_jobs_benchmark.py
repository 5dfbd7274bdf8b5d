"""The Dagster-mode benchmark runs the real jobs end to end on a deployment's instance, and a range run
records what the UI shows per partition: every partition of the range materialised for every asset, and
every asset check's result. A short stretch of the help-desk log (38 days: a whole week and month in it)."""

from __future__ import annotations

import datetime as dt

import pytest

from benchmarks.jobs import HELPDESK_CSV
from tests.conftest import PG_HOST, PG_PORT, require_server

pytestmark = pytest.mark.heavy  # whole pipelines through Dagster, per warehouse

UNTIL = dt.date(2010, 2, 7)  # from 2010-01-01: weeks 01-04...02-01 and January are whole


@pytest.fixture(scope="module", params=[("duckdb", "sqlite"), ("postgres", "postgres")], ids=["duckdb", "postgres"])
def benchmark(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(results, report file): the benchmark command on DuckDB with the default SQLite instance, and on
    PostgreSQL with the PostgreSQL instance configuration (a throwaway database)."""
    warehouse, instance = request.param
    if "postgres" in request.param:
        require_server("PostgreSQL", PG_HOST, PG_PORT)
    if not HELPDESK_CSV.exists():
        pytest.fail(f"the shared dataset {HELPDESK_CSV} is missing")
    from benchmarks.jobs import JobsOptions, run

    root = tmp_path_factory.mktemp("jobs")
    output = root / "BENCHMARKS.md"
    options = JobsOptions(case="helpdesk", warehouse=warehouse, instance=instance, gx=False, until=UNTIL.isoformat(),
                          data_dir=root / "scratch", output=output, keep=warehouse == "duckdb")  # fmt: skip
    return run(options), output


def test_every_job_runs_and_is_reported(benchmark) -> None:
    (result,), output = benchmark
    assert not result.failure
    assert [j.job for j in result.jobs] == ["reference_job", "daily_job", "weekly_job", "monthly_job", "one more day"]
    daily = result.jobs[1]
    assert daily.partitions == f"2010-01-01...{UNTIL}"
    # the stages cover the wall time, and each one the daily run goes through took time
    assert sum(daily.stages.values()) == pytest.approx(daily.wall, rel=1e-6)
    assert all(daily.stages[s] > 0 for s in ("extraction", "landing", "dbt", "checks", "orchestration"))
    assert daily.peak_rss_mib["run"] > 0 and daily.peak_rss_mib["in dbt"] > 0
    assert result.node_runs > 0
    text = output.read_text()
    assert "<!-- benchmark-result: jobs helpdesk" in text and "| daily_job | 2010-01-01...2010-02-07 |" in text
    # issue 14's budget: the calibration and bottleneck marts' share of the monthly job, from dbt's own timings
    monthly = result.jobs[3]
    assert monthly.model_seconds["commitment_calibration_monthly"] > 0
    assert monthly.model_seconds["process_bottlenecks_monthly"] > 0
    assert "calibration and bottleneck marts (commitment_calibration_monthly, process_bottlenecks_monthly" in text
    if result.warehouse == "duckdb":
        # issue 12's yardstick, timed in the same run: the hand-written script over the history's windows
        # equals the marts, and the dbt stage is reported against it
        assert result.work_bound["equal"] and result.work_bound["seconds"] > 0, result.work_bound
        assert any(d.startswith("node_run_states_monthly: ") for d in result.work_bound["details"])
        assert "- **work bound** (benchmarks/work_bound.py" in text and "x** (target at 10M: 2x)" in text
    else:
        assert result.work_bound is None  # DuckDB only, by design
    if result.warehouse == "postgres":  # not kept: the run's schemas are dropped, the reporting views' too
        import psycopg2

        from tests.conftest import PG_ENV

        with psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_ENV["PGUSER"], dbname=PG_ENV["PGDATABASE"]) as conn:
            cur = conn.cursor()
            cur.execute("select nspname from pg_namespace where nspname like %s", [f"{result.schema}%"])
            assert cur.fetchall() == []


def test_a_range_run_records_each_partition_and_the_checks(benchmark, monkeypatch: pytest.MonkeyPatch) -> None:
    (result,), _ = benchmark
    days = (UNTIL - dt.date(2010, 1, 1)).days + 1
    daily = result.jobs[1]
    # the benchmark's own verification: every asset x partition materialised, every check has a result
    for job in result.jobs:
        assert job.materialized_ok and job.checks_ok, job.notes
    assert daily.checks > 0
    # one materialisation per partition and partitioned asset (the UI's per-partition status), written in
    # batches; the reporting views at the end of the job are unpartitioned, once each
    from orchestration.dbt_project import REPORTING_TAG, read_manifest

    nodes = read_manifest()["nodes"].values()
    views = sum(n["resource_type"] == "model" and REPORTING_TAG.split(":")[1] in n["tags"] for n in nodes)
    partitioned = daily.events["ASSET_MATERIALIZATION"] - views
    assert views > 0 and partitioned % days == 0 and partitioned >= 2 * days
    # and planned as materialised: per partition, and once per view, not once per view and partition
    # (orchestration/event_log.py)
    for job in result.jobs:
        assert job.events["ASSET_MATERIALIZATION_PLANNED"] == job.events["ASSET_MATERIALIZATION"], job.job
    assert daily.events["ASSET_CHECK_EVALUATION"] >= daily.checks
    if result.warehouse != "duckdb":
        return
    # and as the UI reads it back from the kept SQLite instance
    from dagster import AssetKey, DagsterInstance

    monkeypatch.setenv("DAGSTER_HOME", result.dagster_home)  # deploy/dagster.yaml stores there
    with DagsterInstance.from_config(result.dagster_home) as instance:
        partitions = set(instance.get_materialized_partitions(AssetKey(["landing", "helpdesk"])))
        assert partitions == {(dt.date(2010, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(days)}
        assert set(instance.get_materialized_partitions(AssetKey(["fct_node_runs"]))) == partitions
