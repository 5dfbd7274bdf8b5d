"""The work bound: the benchmark's transformation written by hand as one DuckDB script, timed, and checked
equal to the marts.

From the landed tables (`<schema>_landing`: interval runs, status events, and the reference tables the
pipeline publishes: commitments, calendar versions and days, business periods) to the classified runs
(`node_run_states_*`) and the rate rows (`achievement_rates_*`) of the periods the benchmark built. It is
written from SEMANTICS.md, not from the dbt macros, and it is free of the project's structure (no
incremental windows, no contracts, no tests, each run judged once rather than once per period), so it
is two things at once: a yardstick for what the transformation costs at least on this machine (the
benchmark reports the ratio of its dbt stage to it), and an independent cross-check of the marts
(EXCEPT both ways, in SQL).

DuckDB only, by design: it is a bound on the work, and DuckDB is the warehouse the targets name.
Scope: what the benchmark's world uses. Interval sources; status histories, entry- or completion-marked,
with terminal and cancelling statuses; commitments on the wall clock or a business calendar (the demo
commitments use the cn_office calendar). Pauses and update-snapshot sources are not covered: when the
landing tables hold either, the bound says so and reports "not comparable" instead of a false result.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

# The grouping levels of the rate rows (SEMANTICS.md "Rates": per process, node, department, position,
# segment and their roll-ups), '*' for a rolled-up dimension.
LEVELS = {
    "all": (),
    "process": ("process_code",),
    "process_node": ("process_code", "node_code"),
    "process_segment": ("process_code", "segment"),
    "process_node_segment": ("process_code", "node_code", "segment"),
    "process_department": ("process_code", "department"),
    "department": ("department",),
    "department_position": ("department", "position"),
    "segment": ("segment",),
}
DIMENSIONS = ("process_code", "node_code", "department", "position", "segment")
STATES = (
    "completed_normal", "completed_acceptable", "completed_warning",
    "in_progress_normal", "in_progress_acceptable", "in_progress_warning", "cancelled", "no_commitment",
)  # fmt: skip
GRAINS = {"day": "daily", "week": "weekly", "month": "monthly"}


@dataclass
class WorkBound:
    seconds: float  # the script, from the landed tables to the classified runs and rate rows
    equal: bool  # every compared mart has the same rows as the script, both ways
    details: list[str]  # per mart: rows, and the differences when there are any


def _runs_sql(landing: str) -> str:
    """The node runs (SEMANTICS.md "Node runs") from the landed rows, as table `wb_runs`."""
    return f"""
    create or replace temp table wb_runs as
    with intervals as (
        -- A source row landed more than once counts once, as its latest delivery.
        select work_order_id, process_code, node_code, segment, department, position, start_at, end_at,
               cancelled_at, source_system
        from {landing}.interval_runs
        qualify row_number() over (
            partition by source_system, work_order_id, source_row_key order by partition_date desc, extracted_at desc
        ) = 1
    ),
    events as (
        select *,
            -- a work order's history: by instant, then in delivery order (batch, then position in it)
            row_number() over history as n,
            lead(event_at) over history as next_at,
            lead(event_role) over history as next_role,
            lag(event_at) over history as previous_at
        from (
            select * from {landing}.status_events
            qualify row_number() over (
                partition by source_system, work_order_id, source_row_key
                order by partition_date desc, extracted_at desc, event_seq desc
            ) = 1
        )
        window history as (
            partition by source_system, work_order_id order by event_at, partition_date, extracted_at, event_seq
        )
    ),
    -- Entry-marked: an activity opens a run the next event ends (or cancels); the last stays open.
    -- Completion-marked: each event after the first closes its activity's run, begun at the previous one.
    single as (
        select source_system, work_order_id, process_code, node_code, segment, department, position,
               timestamp_marks, n, event_at as start_at,
               if(next_role = 'cancelling', null, next_at) as end_at,
               if(next_role = 'cancelling', next_at, null) as cancelled_at
        from events where timestamp_marks = 'entry' and event_role = 'activity'
        union all
        select source_system, work_order_id, process_code, node_code, segment, department, position,
               timestamp_marks, n, previous_at,
               if(event_role = 'cancelling', null, event_at),
               if(event_role = 'cancelling', event_at, null)
        from events where timestamp_marks = 'completion' and previous_at is not null and node_code is not null
    ),
    -- Consecutive runs of one node and one department, the second starting where the first ended, are one run.
    pieces as (
        select *, sum(new_run) over (partition by source_system, work_order_id order by n) as run_no
        from (
            select *,
                case when node_code = lag(node_code) over w
                      and department is not distinct from lag(department) over w
                      and start_at = lag(end_at) over w then 0 else 1 end as new_run
            from single
            window w as (partition by source_system, work_order_id order by n)
        )
    ),
    collapsed as (
        -- segment and position of the event that yields the run: the opening one when entry-marked,
        -- the closing one when completion-marked
        select work_order_id, any_value(process_code) as process_code, any_value(node_code) as node_code,
               if(any_value(timestamp_marks) = 'entry', arg_min_null(segment, n), arg_max_null(segment, n)) as segment,
               any_value(department) as department,
               if(any_value(timestamp_marks) = 'entry', arg_min_null(position, n), arg_max_null(position, n))
                   as position,
               min(start_at) as start_at, arg_max_null(end_at, n) as end_at,
               arg_max_null(cancelled_at, n) as cancelled_at, source_system
        from pieces
        group by source_system, work_order_id, run_no
    ),
    runs as (select * from intervals union all select * from collapsed)
    select *,
        -- rework: the visits of a work order to a node, in start order
        row_number() over (partition by work_order_id, node_code order by start_at, source_system, end_at, department)
            as visit,
        least(coalesce(end_at, cancelled_at), coalesce(cancelled_at, end_at)) as stopped_at
    from runs
    """


def _judged_sql(landing: str) -> str:
    """Each run once: the commitment in force at its start (own segment, else '*'), and its clock's
    readings at its start and end (table `wb_judged`)."""
    return f"""
    create or replace temp table wb_judged as
    with versions as (
        select r.*, coalesce(own.commitment_version_id, star.commitment_version_id) as commitment_version_id,
               coalesce(own.commitment_seconds, star.commitment_seconds) as commitment_seconds,
               coalesce(own.tolerance_seconds, star.tolerance_seconds) as tolerance_seconds,
               coalesce(own.clock, star.clock) as clock
        from wb_runs as r
        left join {landing}.commitments as own
            on own.process_code = r.process_code and own.node_code = r.node_code and own.segment = r.segment
            and own.valid_from <= r.start_at and (own.valid_to is null or r.start_at < own.valid_to)
        left join {landing}.commitments as star
            on star.process_code = r.process_code and star.node_code = r.node_code and star.segment = '*'
            and star.valid_from <= r.start_at and (star.valid_to is null or r.start_at < star.valid_to)
    )
    select v.*, cal.calendar_version_id
    from versions as v
    left join {landing}.calendar_versions as cal
        on cal.calendar_name = v.clock and cal.valid_from <= v.start_at
        and (cal.valid_to is null or v.start_at < cal.valid_to)
    """


def _reading(calendar: str, epoch: str, day: str, slots: int) -> str:
    """The clock's reading at an instant (epoch seconds): the instant on the wall clock; on a business
    calendar, the working seconds before the instant's UTC day plus the working time of that day before it."""
    inside = " + ".join(f"greatest(0, least({epoch}, {day}.w{i}_end) - {day}.w{i}_start)" for i in range(1, slots + 1))
    return f"case when {calendar} is null then {epoch} else {day}.cum_seconds + {inside} end"


def _states_sql(landing: str, grain: str, first: dt.date, end: dt.date, cap: str, slots: int) -> str:
    """The classified runs of one grain's periods starting in [first, end) (table `wb_states_<grain>`)."""
    day = f"{landing}.calendar_days"
    return f"""
    create or replace temp table wb_states_{grain} as
    with periods as (
        select period_id, period_start, least(period_end, timestamp '{cap}') as as_of,
               row_number() over (order by period_start) as k
        from {landing}.business_periods
        where period_grain = '{grain}' and period_start < timestamp '{cap}'
          and period_start_date >= date '{first}' and period_start_date < date '{end}'
    ),
    -- A run is in scope for the periods from the one it starts in (or the first) to the one it stops in
    -- (or the last); each candidate is then checked against the rule itself.
    spans as (
        select r.*, coalesce(a.k, 1) as k_first, coalesce(b.k, (select max(k) from periods)) as k_last
        from wb_judged as r
        asof left join periods as a on r.start_at >= a.period_start
        asof left join periods as b on coalesce(r.stopped_at, timestamp '9999-12-31') >= b.period_start
        where r.start_at < (select max(as_of) from periods)
          and coalesce(r.stopped_at, timestamp '9999-12-31') >= (select min(period_start) from periods)
    ),
    in_scope as (
        select s.*, p.period_id, p.as_of, epoch(p.as_of) as as_of_epoch
        from (select *, unnest(range(k_first, k_last + 1)) as k from spans) as s
        join periods as p using (k)
        where s.start_at < p.as_of and coalesce(s.stopped_at, timestamp '9999-12-31') >= p.period_start
    ),
    status as (
        select *,
            case when cancelled_at < as_of then 'cancelled' when end_at < as_of then 'completed'
                 else 'in_progress' end as run_status,
            -- the run time ends at the run's end when completed, else at as_of (a cancelled run has none)
            case when cancelled_at < as_of then null when end_at < as_of then epoch(end_at) else as_of_epoch end
                as until_epoch
        from in_scope
    ),
    timed as (
        select s.*,
            {_reading("s.calendar_version_id", "s.until_epoch", "u", slots)}
            - {_reading("s.calendar_version_id", "epoch(s.start_at)", "b", slots)} as run_seconds
        from status as s
        left join {day} as b
            on b.calendar_version_id = s.calendar_version_id and b.utc_day = floor(epoch(s.start_at) / 86400)
        left join {day} as u
            on u.calendar_version_id = s.calendar_version_id and u.utc_day = floor(s.until_epoch / 86400)
    )
    select period_id, work_order_id, process_code, node_code, visit, segment, department, position,
        commitment_version_id,
        run_seconds,
        case
            when run_status = 'cancelled' then 'cancelled'
            when commitment_seconds is null then 'no_commitment'
            when run_seconds <= commitment_seconds then run_status || '_normal'
            when run_seconds <= tolerance_seconds then run_status || '_acceptable'
            else run_status || '_warning'
        end as state
    from timed
    """


def _rates_sql(grain: str) -> str:
    """The rate rows of one grain: state counts per period and grouping level (table `wb_rates_<grain>`)."""
    sets = ", ".join("(" + ", ".join(dims) + ")" for dims in LEVELS.values())
    # grouping() has one bit per dimension, the first the highest; set when the dimension is rolled up.
    level_of = " ".join(
        f"when {sum(1 << (len(DIMENSIONS) - 1 - i) for i, d in enumerate(DIMENSIONS) if d not in dims)} then '{name}'"
        for name, dims in LEVELS.items()
    )
    dims = ", ".join(f"case when grouping({d}) = 1 then '*' else {d} end as {d}" for d in DIMENSIONS)
    counts = ", ".join(f"count(*) filter (where state = '{s}') as {s}" for s in STATES)
    sums = ", ".join(f"sum({s}) as {s}" for s in STATES)
    # Counted once per finest group, then rolled up: the grouping sets read thousands of rows, not millions.
    return f"""
    create or replace temp table wb_rates_{grain} as
    with finest as (
        select period_id, process_code, node_code, coalesce(department, '(none)') as department,
            coalesce(position, '(none)') as position, coalesce(segment, '(none)') as segment,
            count(*) as total_runs, {counts}
        from wb_states_{grain}
        group by all
    )
    select period_id, case grouping({", ".join(DIMENSIONS)}) {level_of} end as grouping_level, {dims},
        sum(total_runs) as total_runs, {sums}
    from finest
    group by period_id, grouping sets ({sets})
    """


def _differences(con, mine: str, mart: str, columns: str, where: str) -> tuple[int, int, int]:
    """(rows in the mart, rows only in the script, rows only in the mart) over `columns`."""
    ours = f"select {columns} from {mine}"
    theirs = f"select {columns} from {mart} where {where}"
    only_ours = con.execute(f"select count(*) from ({ours} except all {theirs})").fetchone()[0]
    only_theirs = con.execute(f"select count(*) from ({theirs} except all {ours})").fetchone()[0]
    rows = con.execute(f"select count(*) from {mart} where {where}").fetchone()[0]
    return rows, only_ours, only_theirs


def period_windows(periods) -> dict[str, tuple[dt.date, dt.date]]:
    """The windows a history's runs build, per grain: the days of the range, and Dagster's range window for
    its whole weeks and months (the start of the first partition to the end of the last); `periods` is an
    `orchestration.periods.PeriodRange`."""
    windows = {"day": (periods.first, periods.last + dt.timedelta(days=1))}
    if periods.weeks is not None:
        windows["week"] = (periods.weeks[0], periods.weeks[1] + dt.timedelta(days=7))
    if periods.months is not None:
        after_last = (periods.months[1].replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        windows["month"] = (periods.months[0], after_last)
    return windows


def work_bound(con, schema: str, windows: dict[str, tuple[dt.date, dt.date]], as_of_cap: str) -> WorkBound:
    """Run the script on a DuckDB connection whose `schema` holds the marts and `<schema>_landing` the landed
    tables; `windows` maps each built grain ('day', 'week', 'month') to its periods' start dates [first,
    end); `as_of_cap` is the evaluation instant the marts were built with (UTC, 'YYYY-MM-DD HH:MM:SS').
    Only the script is timed; the comparison with the marts follows it."""
    landing = f"{schema}_landing"
    con.execute("set enable_progress_bar = false")
    unsupported = con.execute(
        f"select count(*) filter (where event_role = 'pausing'), count(*) filter (where update_snapshot)"
        f" from {landing}.status_events"
    ).fetchone()
    if any(unsupported):
        found = f"{unsupported[0]} pausing events, {unsupported[1]} update snapshots"
        return WorkBound(0.0, False, [f"not comparable: the landed status events hold {found}"])
    slots = con.execute(
        f"select count(*) from information_schema.columns where table_schema = '{landing}'"
        " and table_name = 'calendar_days' and column_name like 'w%\\_start' escape '\\'"
    ).fetchone()[0]

    started = time.perf_counter()
    con.execute(_runs_sql(landing))
    con.execute(_judged_sql(landing))
    for grain, (first, end) in windows.items():
        con.execute(_states_sql(landing, grain, first, end, as_of_cap, slots))
        con.execute(_rates_sql(grain))
    seconds = time.perf_counter() - started

    details, equal = [], True
    run_columns = (
        "period_id, work_order_id, node_code, visit, segment, department, position, commitment_version_id, "
        "round(run_seconds, 3) as run_seconds, state"
    )
    rate_columns = f"period_id, grouping_level, {', '.join(DIMENSIONS)}, total_runs, {', '.join(STATES)}"
    for grain, (first, end) in windows.items():
        where = f"period_start_date >= date '{first}' and period_start_date < date '{end}'"
        for mine, mart, columns in (
            (f"wb_states_{grain}", f"{schema}.node_run_states_{GRAINS[grain]}", run_columns),
            (f"wb_rates_{grain}", f"{schema}.achievement_rates_{GRAINS[grain]}", rate_columns),
        ):
            rows, only_ours, only_theirs = _differences(con, mine, mart, columns, where)
            same = only_ours == 0 and only_theirs == 0
            equal = equal and same
            name = mart.split(".")[-1]
            details.append(
                f"{name}: {rows:,} rows, equal"
                if same
                else f"{name}: {rows:,} rows, {only_ours:,} only in the work bound, {only_theirs:,} only in the mart"
            )
    for table in ("wb_runs", "wb_judged", *(f"wb_{k}_{g}" for g in windows for k in ("states", "rates"))):
        con.execute(f"drop table if exists {table}")
    return WorkBound(seconds, equal, details)
