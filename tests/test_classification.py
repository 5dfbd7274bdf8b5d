"""The seven states, periods and rates of SEMANTICS.md on hand-made node runs, end to end through a
file source, the Dagster jobs and dbt, on DuckDB and on PostgreSQL.

Business zone Asia/Shanghai (UTC+8): the day 2026-03-10 is [2026-03-09T16:00Z, 2026-03-10T16:00Z).
Commitments (tests/fixtures/commitments_cases.yaml): BROADBAND ACCEPT * 1h/2h, ACCEPT VIP 30min/1h,
DISPATCH * 1h/2h until 2026-03-10 12:00 local then 2h/4h; INSTALL has none.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import query, run_pipeline, warehouse_of_env

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

FIXTURES = Path(__file__).parent / "fixtures"

# wo, node, segment, start, end, cancelled (UTC)
CASES = """\
wo,process,node,segment,dept,start,end,cancelled
AT_COMMITMENT,KDZJ,ACCEPT,公众,营业厅,2026-03-10T01:00:00,2026-03-10T02:00:00,
AT_TOLERANCE,KDZJ,ACCEPT,公众,营业厅,2026-03-10T01:00:00,2026-03-10T03:00:00,
OVER_TOLERANCE,KDZJ,ACCEPT,公众,营业厅,2026-03-10T01:00:00,2026-03-10T03:00:01,
ACROSS_BOUNDARY,KDZJ,ACCEPT,公众,营业厅,2026-03-10T15:30:00,2026-03-11T00:00:00,
CANCEL_BEFORE,KDZJ,ACCEPT,公众,营业厅,2026-03-09T10:00:00,,2026-03-09T12:00:00
CANCEL_WITHIN,KDZJ,ACCEPT,公众,营业厅,2026-03-10T01:00:00,,2026-03-10T05:00:00
CANCEL_AFTER,KDZJ,ACCEPT,公众,营业厅,2026-03-10T10:00:00,,2026-03-11T01:00:00
REWORK,KDZJ,ACCEPT,公众,营业厅,2026-03-10T01:00:00,2026-03-10T01:30:00,
REWORK,KDZJ,ACCEPT,公众,营业厅,2026-03-10T03:00:00,2026-03-10T04:30:00,
VIP_OWN,KDZJ,ACCEPT,VIP,营业厅,2026-03-10T01:00:00,2026-03-10T01:40:00,
GOV_FALLBACK,KDZJ,ACCEPT,政企,营业厅,2026-03-10T01:00:00,2026-03-10T01:40:00,
BEFORE_CHANGE,KDZJ,DISPATCH,公众,调度中心,2026-03-10T02:00:00,2026-03-10T03:30:00,
AFTER_CHANGE,KDZJ,DISPATCH,公众,调度中心,2026-03-10T05:00:00,2026-03-10T06:30:00,
NO_COMMITMENT,KDZJ,INSTALL,公众,装维中心,2026-03-10T01:00:00,2026-03-10T02:00:00,
ENDED_AT_START,KDZJ,ACCEPT,公众,营业厅,2026-03-09T15:30:00,2026-03-09T16:00:00,
ENDED_BEFORE,KDZJ,ACCEPT,公众,营业厅,2026-03-09T15:00:00,2026-03-09T15:59:59,
REVOKED,KDZJ,ACCEPT,公众,营业厅,2026-03-09T01:00:00,2026-03-09T02:00:00,2026-03-09T03:00:00
REVOKED,KDZJ,DISPATCH,公众,调度中心,2026-03-09T04:00:00,2026-03-09T05:00:00,
REVOKED_LATER,KDZJ,ACCEPT,公众,营业厅,2026-03-09T01:00:00,2026-03-09T02:00:00,2026-03-09T20:00:00
TIED,KDZJ,DISPATCH,公众,调度中心,2026-03-09T01:00:00,2026-03-09T02:00:00,
TIED,KDZJ,ACCEPT,政企,营业厅,2026-03-09T01:00:00,2026-03-09T03:00:00,
"""

SOURCE = """\
name: cases
kind: file
path: "{data_dir}/cases.csv"
time_zone: UTC
shape: intervals
columns:
  work_order_id: wo
  process: process
  node: node
  segment: segment
  department: dept
  start_at: start
  end_at: end
  cancelled_at: cancelled
processes: {KDZJ: BROADBAND}
nodes:
  BROADBAND: {ACCEPT: ACCEPT, DISPATCH: DISPATCH, INSTALL: INSTALL}
"""


@pytest.fixture(scope="module")
def classified(module_pipeline_env: Path) -> Iterator[None]:
    (module_pipeline_env / "cases.csv").write_text(CASES, encoding="utf-8")
    (module_pipeline_env / "sources_config" / "cases.yaml").write_text(textwrap.dedent(SOURCE), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMMITMENTS_FILE", str(FIXTURES / "commitments_cases.yaml"))
        run_pipeline(date(2026, 3, 9), date(2026, 3, 11))
        yield


def day_states(day: str) -> dict[tuple[str, int], tuple[str, str | None]]:
    rows = query(
        "select work_order_id, visit, state, commitment_version_id from {s}.node_run_states_daily "
        f"where period_id = 'day:{day}'"
    )
    return {(r.work_order_id, int(r.visit)): (r.state, r.commitment_version_id) for r in rows.itertuples()}


def test_seven_states_on_the_edges(classified: None) -> None:
    states = {k: v[0] for k, v in day_states("2026-03-10").items()}
    assert states == {
        ("AT_COMMITMENT", 1): "completed_normal",  # run time == commitment limit is normal
        ("AT_TOLERANCE", 1): "completed_acceptable",  # == tolerance limit is still acceptable
        ("OVER_TOLERANCE", 1): "completed_warning",
        ("ACROSS_BOUNDARY", 1): "in_progress_normal",  # 30 min at the day's end, not yet finished
        ("CANCEL_WITHIN", 1): "cancelled",
        ("CANCEL_AFTER", 1): "in_progress_warning",  # cancelled only the next day: 6 h open at as_of
        ("REWORK", 1): "completed_normal",
        ("REWORK", 2): "completed_acceptable",  # the second visit is judged on its own
        ("VIP_OWN", 1): "completed_acceptable",  # VIP has its own 30 min limit
        ("GOV_FALLBACK", 1): "completed_normal",  # no 政企 line: falls back to segment *
        ("BEFORE_CHANGE", 1): "completed_acceptable",  # judged by the version in force at its start
        ("AFTER_CHANGE", 1): "completed_normal",
        ("NO_COMMITMENT", 1): "no_commitment",
        ("ENDED_AT_START", 1): "completed_normal",  # not ended *before* the period: in scope
    }  # CANCEL_BEFORE and ENDED_BEFORE are out of scope


def test_run_open_across_boundary_completes_next_day(classified: None) -> None:
    next_day = {k: v[0] for k, v in day_states("2026-03-11").items()}
    assert next_day == {
        ("ACROSS_BOUNDARY", 1): "completed_warning",  # 8.5 h in all
        ("CANCEL_AFTER", 1): "cancelled",
    }


def test_commitment_version_recorded(classified: None) -> None:
    versions = {k: v[1] for k, v in day_states("2026-03-10").items()}
    assert versions[("BEFORE_CHANGE", 1)] != versions[("AFTER_CHANGE", 1)]
    assert versions[("VIP_OWN", 1)].startswith("BROADBAND|ACCEPT|VIP|")
    assert versions[("GOV_FALLBACK", 1)].startswith("BROADBAND|ACCEPT|*|")
    assert pd.isna(versions[("NO_COMMITMENT", 1)])


def test_rates_follow_the_states(classified: None) -> None:
    rates = query(
        "select * from {s}.achievement_rates_daily where period_id = 'day:2026-03-10' "
        "and grouping_level = 'process_node' and node_code = 'ACCEPT'"
    ).iloc[0]
    # ACCEPT runs in scope: 12; normal: AT_COMMITMENT, ACROSS_BOUNDARY, REWORK#1, GOV_FALLBACK,
    # ENDED_AT_START; acceptable: AT_TOLERANCE, REWORK#2, VIP_OWN; warning: OVER_TOLERANCE, CANCEL_AFTER.
    assert int(rates.total_runs) == 11
    assert int(rates.cancelled) == 1
    assert int(rates.evaluated_runs) == 10
    assert rates.normal_share == pytest.approx(0.5)
    assert rates.acceptable_share == pytest.approx(0.3)
    assert rates.warning_share == pytest.approx(0.2)
    assert rates.achievement_rate == pytest.approx(0.5)
    assert rates.completed_achievement_rate == pytest.approx(4 / 8)
    everything = query(
        "select * from {s}.achievement_rates_daily where period_id = 'day:2026-03-10' and grouping_level = 'all'"
    ).iloc[0]
    assert int(everything.total_runs) == 14
    assert int(everything.no_commitment) == 1
    assert int(everything.evaluated_runs) == 12
    assert everything.normal_share + everything.acceptable_share + everything.warning_share == pytest.approx(1)


def test_flags_use_the_thresholds(classified: None) -> None:
    flags = query(
        "select node_code, achievement_rate, raise_commitment, improve_process from {s}.achievement_rates_daily "
        "where period_id = 'day:2026-03-10' and grouping_level = 'process_node'"
    ).set_index("node_code")
    assert not flags.loc["ACCEPT"].raise_commitment and not flags.loc["ACCEPT"].improve_process
    assert pd.isna(flags.loc["INSTALL"].achievement_rate)  # nothing evaluated: no rate, no flag
    assert not flags.loc["INSTALL"].raise_commitment


# (start_at, closed_at), local naive times: the reconciliation's count of runs in scope at its edges.
RECONCILED_RUNS = [
    ("2026-03-11 00:00:00", None),  # starts at the day's as_of: not the day's, the next period's
    ("2026-03-10 23:59:59", None),
    ("2026-03-09 10:00:00", "2026-03-10 00:00:00"),  # closes at the day's start: in scope of the day
    ("2026-03-09 10:00:00", "2026-03-09 23:59:59"),  # closed before it: in none
    ("2026-03-11 12:00:00", None),  # starts at the open period's as_of: in none
    ("2026-03-10 05:00:00", "2026-03-11 00:00:00"),
    ("2026-03-10 05:00:00", None),  # two runs tied on their start
    ("2026-03-10 05:00:00", None),
    ("2026-03-11 06:00:00", None),
]
# (period_id, period_start, as_of): a whole day, and a period still open at its as_of.
RECONCILED_PERIODS = [
    ("day", "2026-03-10 00:00:00", "2026-03-11 00:00:00"),
    ("open", "2026-03-11 00:00:00", "2026-03-11 12:00:00"),
]


def test_the_reconciliation_counts_the_runs_in_scope_at_the_edges(classified: None) -> None:
    """dbt's runs_reconcile_with_base counts each period's runs of the base table in its own SQL per warehouse
    (macros/tests/runs_counted_per_period.sql: a sweep, an ASOF join on DuckDB): started strictly before as_of,
    not closed strictly before the start (SEMANTICS.md "Periods"), ties included."""
    from orchestration.dbt_runner import dbt_in_process

    def ts(text: str | None) -> str:
        return "cast(null as timestamp)" if text is None else f"cast('{text}' as timestamp)"

    runs = ", ".join(f"({ts(start)}, {ts(closed)})" for start, closed in RECONCILED_RUNS)
    periods = ", ".join(f"('{p}', {ts(start)}, {ts(as_of)})" for p, start, as_of in RECONCILED_PERIODS)
    inline = (
        f"with periods as (select * from (values {periods}) as p (period_id, period_start, as_of)), "
        f"runs as (select * from (values {runs}) as r (start_at, closed_at)), "
        "{{ runs_counted_per_period('periods', 'runs') }} select period_id, base_runs from counted_runs"
    )
    compiled = dbt_in_process("compile", "--inline", inline).result.results[0].node.compiled_code
    counted = dict(query(compiled).itertuples(index=False))
    in_scope = {
        p: sum(1 for start, closed in RECONCILED_RUNS if start < as_of and (closed is None or closed >= begin))
        for p, begin, as_of in RECONCILED_PERIODS
    }
    assert in_scope == {"day": 5, "open": 6}
    assert {p: int(n) for p, n in counted.items()} == in_scope


def test_postgres_plans_each_mart_on_statistics_of_what_dbt_just_built(classified: None, warehouse_target: str) -> None:
    """dbt analyzes every mart on PostgreSQL as it builds it (macros/portability/analyze_for_planner.sql): the
    next model is planned on the rows there are, not as if a table just written held a handful (autovacuum
    analyzes only later, and not at all where it is off). last_analyze is set by ANALYZE alone, not by
    autovacuum."""
    if warehouse_target == "duckdb":
        return  # DuckDB keeps no planner statistics to refresh
    tables = query(
        "select relname, last_analyze from pg_stat_user_tables where schemaname = '{s}' "
        "and relname in ('dim_periods', 'fct_node_runs', 'node_run_states_daily', 'work_order_status_daily', "
        "'achievement_rates_daily')"
    ).set_index("relname")
    assert len(tables) == 5
    assert tables.last_analyze.notna().all(), tables


def test_postgres_analyzes_a_table_again_once_it_grew_by_a_tenth(classified: None, warehouse_target: str) -> None:
    """An incremental table is analysed again when a run has grown it by a tenth or more since its statistics
    were taken, not after every day (macros/portability/analyze_for_planner.sql): one more day of a long
    history changes it by far less, and analysing it cost seconds a day."""
    if warehouse_target == "duckdb":
        return  # DuckDB keeps no planner statistics to refresh
    from orchestration.dbt_runner import dbt_in_process
    from tests.conftest import warehouse_of_env

    warehouse = warehouse_of_env()
    probe = f"{warehouse.schema_name}.analyze_probe"
    relation = f"api.Relation.create(schema='{warehouse.schema_name}', identifier='analyze_probe')"
    compiled = dbt_in_process("compile", "--inline", f"{{{{ analyze_for_planner({relation}) }}}}")
    analyze = compiled.result.results[0].node.compiled_code

    def estimated_rows() -> float:
        return float(query(f"select reltuples from pg_class where oid = '{probe}'::regclass").reltuples.iloc[0])

    warehouse.execute(f"drop table if exists {probe}")
    warehouse.execute(f"create table {probe} as select n, repeat('x', 40) as pad from generate_series(1, 20000) as n")
    warehouse.execute(analyze)  # never analysed: analysed now
    assert estimated_rows() == 20000
    warehouse.execute(f"insert into {probe} select n, repeat('x', 40) from generate_series(1, 1000) as n")
    warehouse.execute(analyze)  # 5% more: left to autovacuum
    assert estimated_rows() == 20000
    warehouse.execute(f"insert into {probe} select n, repeat('x', 40) from generate_series(1, 2000) as n")
    warehouse.execute(analyze)  # 15% more than when last analysed
    assert estimated_rows() == 23000
    warehouse.execute(f"drop table {probe}")


def test_postgres_tables_keep_their_indexes_when_dbt_rebuilds_them(classified: None, warehouse_target: str) -> None:
    """A table dbt rebuilds (a table model at every run, an incremental one on a full refresh) is built beside
    the old one, whose index holds the name until dbt drops it: the index is made on the new table every time
    (macros/portability/index_on.sql), not only every other time."""
    if warehouse_target == "duckdb":
        return  # DuckDB needs no indexes (zone maps)
    from orchestration.dbt_runner import dbt_in_process

    indexes = "select indexname from pg_indexes where schemaname = '{s}' and tablename = 'dim_calendar_days'"
    for _ in range(2):
        dbt_in_process("run", "--select", "dim_calendar_days")  # raises when dbt fails
        assert query(indexes).indexname.tolist() == ["dim_calendar_days_calendar_version_id_utc_day_ix"]


def test_postgres_sessions_of_the_pipeline_and_of_dbt_run_without_jit(
    classified: None, warehouse_target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline's own PostgreSQL sessions and dbt's plan without JIT compilation and sort in 128 MB
    (orchestration/warehouse.py, PG_SESSION_OPTIONS): each query runs once, and the compilation cost more than it
    saved; a backfill's sorts no longer spill. The options the environment gives (PGOPTIONS) come after, and win."""
    if warehouse_target == "duckdb":
        return  # DuckDB compiles nothing per query
    from orchestration.dbt_runner import dbt_in_process

    settings = "select current_setting('jit') as jit, current_setting('work_mem') as work_mem"
    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert query(settings).iloc[0].tolist() == ["off", "128MB"]
    shown = dbt_in_process("show", "--inline", settings).result.results[0].agate_table
    assert [list(row) for row in shown.rows] == [["off", "128MB"]]
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=8MB")
    assert query(settings).iloc[0].tolist() == ["off", "8MB"]
    shown = dbt_in_process("show", "--inline", settings).result.results[0].agate_table
    assert [list(row) for row in shown.rows] == [["off", "8MB"]]


def test_work_orders_by_their_first_and_latest_runs(classified: None) -> None:
    """The work-order status of 2026-03-09 (as_of 2026-03-09T16:00Z), from cases on that day alone:
    REVOKED's ACCEPT run ended and was then cancelled before as_of, so that node is not completed; REVOKED_LATER's
    was cancelled only after as_of, so it is; TIED's two runs start together, and the lower node_code is both
    its first run (the segment) and its latest (the current node)."""
    orders = query(
        "select work_order_id, order_status, nodes_completed, current_node_code, current_department, segment, "
        "first_start_at, last_end_at from {s}.work_order_status_daily where period_id = 'day:2026-03-09' "
        "and work_order_id in ('REVOKED', 'REVOKED_LATER', 'TIED')"
    ).set_index("work_order_id")
    got = {
        wo: (r.order_status, int(r.nodes_completed), r.current_node_code, r.current_department, r.segment)
        for wo, r in orders.iterrows()
    }
    assert got == {
        "REVOKED": ("completed", 1, "DISPATCH", "调度中心", "公众"),
        "REVOKED_LATER": ("completed", 1, "ACCEPT", "营业厅", "公众"),
        "TIED": ("completed", 2, "ACCEPT", "营业厅", "政企"),
    }
    tied = orders.loc["TIED"]
    assert (str(tied.first_start_at), str(tied.last_end_at)) == ("2026-03-09 01:00:00", "2026-03-09 03:00:00")


def _run_indexes(target: str) -> set[str]:
    if target == "postgres":
        sql = "select indexname as name from pg_indexes where schemaname = '{s}' and tablename = 'fct_node_runs'"
    else:
        sql = (
            "select index_name as name from duckdb_indexes() where schema_name = '{s}' and table_name = 'fct_node_runs'"
        )
    return set(query(sql).name)


def test_a_periods_runs_are_found_by_one_index(classified: None, warehouse_target: str) -> None:
    """PostgreSQL finds a period's runs (open_until >= its start, start_at < its as_of) in one index over both
    columns, and a warehouse built with the older index on open_until alone loses it at its next run; DuckDB
    keeps no index (its zone maps prune, and an index would cost every write)."""
    if warehouse_target == "duckdb":
        assert _run_indexes("duckdb") == set()
        return
    assert _run_indexes("postgres") == {"fct_node_runs_work_order_id_ix", "fct_node_runs_open_until_start_at_ix"}
    states = day_states("2026-03-11")
    warehouse = warehouse_of_env()
    warehouse.execute(f"create index fct_node_runs_open_until_ix on {warehouse.schema_name}.fct_node_runs (open_until)")
    assert "fct_node_runs_open_until_ix" in _run_indexes("postgres")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMMITMENTS_FILE", str(FIXTURES / "commitments_cases.yaml"))
        run_pipeline(date(2026, 3, 11), date(2026, 3, 11))
    assert _run_indexes("postgres") == {"fct_node_runs_work_order_id_ix", "fct_node_runs_open_until_start_at_ix"}
    assert day_states("2026-03-11") == states


# A node's runs whose completed intervals overlap, touch, are empty or never end: node, visit, start, end,
# cancelled (UTC, one day); the instants are where one of them changes the count.
COMPLETION_RUNS = [
    ("A", 1, "00:00", "01:00", "03:00"), ("A", 2, "02:00", "02:30", None),  # overlapping: one island
    ("B", 1, "00:00", "01:00", "01:30"), ("B", 2, "02:00", "04:00", "05:00"), ("B", 3, "04:30", "04:40", None),
    ("C", 1, "00:00", "00:10", "00:05"), ("C", 2, "01:00", None, None),  # cancelled before its end; never ended
    ("D", 1, "03:00", "02:00", None), ("D", 2, "03:00", "03:00", None),  # ended at or before its start, tied
    ("E", 1, "00:00", "01:00", "02:00"), ("E", 2, "02:00", "02:00", None),  # touching islands
]  # fmt: skip
COMPLETION_INSTANTS = ["00:30", "01:00", "01:15", "01:30", "01:45", "02:00", "02:20", "02:45", "03:00", "03:30",
                       "04:00", "04:20", "04:45", "05:00", "05:30"]  # fmt: skip


def _completed_nodes(at: str) -> int:
    """SEMANTICS.md: a node is completed at T when one of its runs started and ended before T and was not
    cancelled before T (run_status_at)."""
    return len({
        node for node, _, start, end, cancelled in COMPLETION_RUNS
        if start < at and end is not None and end < at and not (cancelled is not None and cancelled < at)
    })  # fmt: skip


def test_nodes_completed_at_an_instant_counts_each_node_once(classified: None) -> None:
    """The count of completed nodes at as_of that the PostgreSQL body of work_order_status sums without a
    count(distinct) (macros/judging/nodes_completed_at.sql), on each warehouse, against the rule itself: a node
    counts once however many of its runs are completed, and not at all while its only completed run is
    cancelled, in the islands of overlapping, touching, empty and open-ended intervals."""
    from orchestration.dbt_runner import dbt_in_process

    def ts(hhmm: str | None) -> str:
        return "cast(null as timestamp)" if hhmm is None else f"cast('2026-03-09 {hhmm}:00' as timestamp)"

    runs = ",\n".join(f"('W', '{n}', {v}, {ts(s)}, {ts(e)}, {ts(c)})" for n, v, s, e, c in COMPLETION_RUNS)
    instants = ",\n".join(f"({ts(at)})" for at in COMPLETION_INSTANTS)
    sql = f"""
        with runs as (
            select * from (values {runs}) as t (work_order_id, node_code, visit, start_at, end_at, cancelled_at)
        ),
        intervals as (select r.*, {{{{ completion_interval('r') }}}} from runs as r),
        islands as (select r.*, {{{{ node_completion_islands('r') }}}} from intervals as r),
        instants as (select * from (values {instants}) as i (as_of))
        select cast(i.as_of as varchar) as as_of, {{{{ nodes_completed_at('r', 'i.as_of') }}}} as nodes_completed
        from instants as i
        inner join islands as r on r.start_at < i.as_of
        group by i.as_of
        order by i.as_of
    """
    shown = dbt_in_process("show", "--inline", sql, "--limit", "100").result.results[0].agate_table
    got = {str(at)[11:16]: int(n) for at, n in shown.rows}
    want = {at: _completed_nodes(at) for at in COMPLETION_INSTANTS}
    assert got == want
    assert min(want.values()) == 0 and max(want.values()) == 4  # from none of the nodes to all that can be
