{#-
  The body of work_order_status_daily, _weekly and _monthly (SEMANTICS.md "Work-order status table"),
  from the node run states of the same grain (`run_states`). One body for the three grains, like
  node_run_states (macros/marts/node_run_states.sql).

  The CTEs from `in_scope` (the work orders with a run in scope, per period) to `orders` (one row per period
  and work order: its current node, open runs, nodes completed, ...) come in two versions that give the same
  rows (work_order_orders); the rest is one. Both number each run of those work orders once, by windows over
  the work order's runs, and then aggregate every (period, work order, run) row with plain counts and maxima
  grouped by the two keys:
    duckdb__   looks the latest run up by its number afterwards, and counts the completed nodes from the run
               that completes each node first, with a count(distinct) for the rare nodes that have a run
               ended and then cancelled (macros/portability/first_and_latest_runs.sql).
    default__  (PostgreSQL, and other adapters) finds the first and latest runs and the completed nodes by a
               test on each row (macros/judging/nodes_completed_at.sql), so it reads its runs and in_scope
               once each: PostgreSQL keeps no statistics on a CTE read twice, and estimated the duckdb__
               body's joins at a fiftieth of their rows, then chose external sorts and merge joins (weekly 32 s
               against 23 s). The version before numbered the (period, work order, run) rows themselves, twice,
               and sorted them for its group by: 2.9M rows for the daily range at 1M node runs, where the
               query took 52-54 s; now 35-38 s, with the same rows at every grain.
-#}
{% macro work_order_status(grain, run_states) -%}
with periods as (
    {{ evaluated_periods(grain) }}
),

-- The work orders with a run in scope, with their period's as_of (joined here, so that the runs below
-- are joined on the work order and as_of at once).
in_scope as (
    select
        s.period_id,
        s.work_order_id,
        p.as_of,
        max(case s.band when 'warning' then 3 when 'acceptable' then 2 when 'normal' then 1 end) as worst_band_rank
    from {{ run_states }} as s
    inner join periods as p on p.period_id = s.period_id
    group by s.period_id, s.work_order_id, p.as_of
),

{{ adapter.dispatch('work_order_orders', 'service_commitments')(grain, run_states) }},

-- A work order is finished when no run is open at as_of; cancelled when its latest run was cancelled.
end_to_end as (
    select
        o.*,
        case
            when open_runs > 0 then 'in_progress'
            when last_run_cancelled = 1 then 'cancelled'
            else 'completed'
        end as order_status,
        {{ commitment_columns('e2e_') }}
    from orders as o
    {{ join_commitment_in_force('o', "'*'", 'o.segment', 'o.first_start_at') }}
),

bounded as (
    select
        *,
        first_start_at as start_at,
        case
            when order_status = 'completed' then last_end_at
            when order_status = 'in_progress' then as_of
        end as measured_until
    from end_to_end
),

{{ measured_on_clock('timed', 'bounded', ['period_id', 'work_order_id'], 'measured_until') }}

select
    {{ typed(dbt.concat(["period_id", "'|'", "work_order_id"]), 'string') }} as period_work_order_id,
    {{ typed_period_columns() }},
    {{ typed('work_order_id', 'string') }} as work_order_id,
    {{ typed('process_code', 'string') }} as process_code,
    {{ typed('segment', 'string') }} as segment,
    {{ typed('current_node_code', 'string') }} as current_node_code,
    {{ typed('current_department', 'string') }} as current_department,
    {{ typed('nodes_completed', 'bigint') }} as nodes_completed,
    {{ typed('order_status', 'string') }} as order_status,
    {{ typed("case worst_band_rank when 3 then 'warning' when 2 then 'acceptable' when 1 then 'normal' end", 'string') }} as worst_band,
    {{ typed('first_start_at', 'timestamp') }} as first_start_at,
    {{ typed("case when order_status = 'completed' then last_end_at end", 'timestamp') }} as last_end_at,
    {{ typed('e2e_commitment_version_id', 'string') }} as e2e_commitment_version_id,
    {{ typed('case when e2e_commitment_version_id is not null then run_seconds end', 'double') }} as e2e_run_seconds,
    {{ typed("case
        when e2e_commitment_version_id is null then null
        when order_status = 'cancelled' then 'cancelled'
        when run_seconds <= e2e_commitment_seconds then " ~ dbt.concat(["order_status", "'_normal'"]) ~ "
        when run_seconds <= e2e_tolerance_seconds then " ~ dbt.concat(["order_status", "'_acceptable'"]) ~ "
        else " ~ dbt.concat(["order_status", "'_warning'"]) ~ "
    end", 'string') }} as e2e_state
from timed
{%- endmacro %}

{% macro default__work_order_orders(grain, run_states) -%}
-- Every run of those work orders, with what it tells any as_of, from windows over the work order's runs
-- (macros/portability/first_and_latest_runs.sql, macros/judging/nodes_completed_at.sql): each run is sorted
-- once, not once per period, and the periods below only sum and compare. The work orders are found again from
-- run_states rather than from in_scope: a second read would make PostgreSQL materialise in_scope without
-- statistics.
ordered_runs as (
    select
        r.*,
        {{ node_completion_islands('r') }}
    from (
        select
            r.work_order_id, r.process_code, r.node_code, r.visit, r.segment, r.department,
            r.start_at, r.end_at, r.cancelled_at,
            {{ first_and_latest_run_columns('r') }},
            {{ completion_interval('r') }}
        from {{ ref('fct_node_runs') }} as r
        -- Grouped: PostgreSQL hashes the ids (1.58M run states to 257k work orders at 1M runs); a bare `in`
        -- sorted them all for a unique, 0.9 s more of the daily history's query.
        where r.work_order_id in (
            select s.work_order_id
            from {{ run_states }} as s
            where s.period_id in (select period_id from periods)
            group by s.work_order_id
        )
    ) as r
),

-- Per period and work order, over its runs that exist at as_of (the history so far, in scope or not): plain
-- sums and maxima, grouped by the two keys alone (hashed, not sorted); the period's columns come after.
run_counts as (
    select
        o.period_id,
        o.work_order_id,
        o.worst_band_rank,
        max(r.process_code) as process_code,
        max(case when {{ is_first_run('r') }} then r.segment end) as segment,
        min(r.start_at) as first_start_at,
        max(case when {{ is_latest_run_at('r', 'o.as_of') }} then r.node_code end) as current_node_code,
        max(case when {{ is_latest_run_at('r', 'o.as_of') }} then r.department end) as current_department,
        max(case when {{ is_latest_run_at('r', 'o.as_of') }} and {{ run_status_at('r', 'o.as_of') }} = 'cancelled'
            then 1 else 0 end) as last_run_cancelled,
        {{ nodes_completed_at('r', 'o.as_of') }} as nodes_completed,
        sum(case when {{ run_status_at('r', 'o.as_of') }} = 'in_progress' then 1 else 0 end) as open_runs,
        max(case when {{ run_status_at('r', 'o.as_of') }} = 'completed' then r.end_at end) as last_end_at
    from in_scope as o
    inner join ordered_runs as r
        on r.work_order_id = o.work_order_id
        and r.start_at < o.as_of
    group by o.period_id, o.work_order_id, o.worst_band_rank
),

orders as (
    select
        p.period_id, p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of, c.work_order_id,
        c.process_code, c.segment, c.current_node_code, c.current_department, c.nodes_completed, c.open_runs,
        c.last_run_cancelled, c.first_start_at, c.last_end_at, c.worst_band_rank
    from run_counts as c
    inner join periods as p on p.period_id = c.period_id
)
{%- endmacro %}

{% macro duckdb__work_order_orders(grain, run_states) -%}
-- Every run of those work orders, each numbered once (macros/portability/first_and_latest_runs.sql), and
-- the instant from which it makes its node completed: a node is completed at as_of when one of its runs
-- is (SEMANTICS.md "State as of an instant T"). A run with an end and no cancellation is completed at
-- every as_of after its start and its end; so a node none of whose runs has both an end and a
-- cancellation is completed from the earliest such instant of its runs on, and only the run reaching it
-- first counts the node (node_completed_at): no count(distinct) over every period and run. A node with a
-- run both ended and cancelled (completed only until the cancellation) is counted in rare_nodes_completed.
{%- set by_completion = 'partition by r.work_order_id, r.node_code order by '
    ~ 'case when r.end_at is null then 1 else 0 end, '
    ~ 'case when r.end_at < r.start_at then r.start_at else r.end_at end, r.visit' %}
scoped_runs as (
    select
        *,
        case
            when node_has_ended_and_cancelled_run = 0 and completion_order = 1 and end_at is not null
                then case when end_at < start_at then start_at else end_at end
        end as node_completed_at
    from (
        select
            r.work_order_id, r.node_code, r.department, r.start_at, r.end_at, r.cancelled_at,
            {{ run_numbers('r') }},
            -- One sort with completion_order: the whole partition as the frame.
            max(case when r.end_at is not null and r.cancelled_at is not null then 1 else 0 end) over (
                {{ by_completion }} rows between unbounded preceding and unbounded following
            ) as node_has_ended_and_cancelled_run,
            row_number() over ({{ by_completion }}) as completion_order
        from {{ ref('fct_node_runs') }} as r
        where r.work_order_id in (select i.work_order_id from in_scope as i)
    ) as numbered
),

-- Per period and work order, over every run that exists at as_of (in scope or not: the history so far),
-- grouped by the keys alone; the period's columns are joined afterwards.
run_counts as (
    select
        o.period_id,
        o.work_order_id,
        o.worst_band_rank,
        max(r.start_rank) as latest_run_seq,
        sum(case when r.node_completed_at < o.as_of then 1 else 0 end) as nodes_completed,
        max(case when {{ run_status_at('r', 'o.as_of') }} = 'in_progress' then 1 else 0 end) as any_run_open,
        max(case when {{ run_status_at('r', 'o.as_of') }} = 'completed' then r.end_at end) as last_end_at
    from in_scope as o
    inner join scoped_runs as r
        on r.work_order_id = o.work_order_id
        and r.start_at < o.as_of
    group by o.period_id, o.work_order_id, o.worst_band_rank
),

rare_nodes_completed as (
    select
        o.period_id,
        o.work_order_id,
        count(distinct r.node_code) as nodes_completed
    from in_scope as o
    inner join scoped_runs as r
        on r.work_order_id = o.work_order_id
        and r.start_at < o.as_of
    where r.node_has_ended_and_cancelled_run = 1
        and {{ run_status_at('r', 'o.as_of') }} = 'completed'
    group by o.period_id, o.work_order_id
),

-- The segment is the first run's; the current node and department, and whether the order was cancelled,
-- the latest run's.
orders as (
    select
        p.period_id, p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of, c.work_order_id,
        l.process_so_far as process_code,
        l.first_segment as segment,
        l.node_code as current_node_code,
        l.department as current_department,
        c.nodes_completed + coalesce(x.nodes_completed, 0) as nodes_completed,
        c.any_run_open as open_runs,
        case when {{ run_status_at('l', 'p.as_of') }} = 'cancelled' then 1 else 0 end as last_run_cancelled,
        l.first_start_at,
        c.last_end_at,
        c.worst_band_rank
    from run_counts as c
    inner join periods as p on p.period_id = c.period_id
    inner join scoped_runs as l
        on l.work_order_id = c.work_order_id
        and l.run_seq = c.latest_run_seq
    left join rare_nodes_completed as x
        on x.period_id = c.period_id
        and x.work_order_id = c.work_order_id
)
{%- endmacro %}
