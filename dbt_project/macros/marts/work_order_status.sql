{#-
  work_order_status_daily, _weekly and _monthly (SEMANTICS.md "Work-order status table"), in two steps, each
  one body for the three grains like node_run_states (macros/marts/node_run_states.sql):
    work_order_progress(grain)     int_work_order_status__<grain>: every column but the worst band, for the work
                                   orders with a run in scope of a period (macros/periods/run_in_scope.sql),
                                   from the base table alone
    work_order_status(grain, progress, run_states)   the mart: those rows with the worst band of the work
                                   order's runs in scope, from node_run_states_<grain>
  Only the worst band needs the judged runs, so the costlier step needs only the base table: on PostgreSQL,
  one backend per model, it is built beside node_run_states_<grain> instead of after it.

  Per period and work order, its runs that exist at as_of (the history so far, in scope or not) are summed
  and compared, grouped by the two keys alone (hashed, not sorted): the first and latest run and the nodes
  completed are found by a test on each run (macros/judging/first_and_latest_runs.sql,
  macros/judging/nodes_completed_at.sql), from what int_node_runs__sequenced computed once per work order.
-#}
{% macro work_order_progress(grain) -%}
-- Materialised: DuckDB would plan the two-inequality scope join over inlined periods as an IE_JOIN
-- (macros/marts/node_run_states.sql).
with periods as materialized (
    {{ evaluated_periods(grain) }}
),

-- Per period and work order with a run in scope, over its runs that exist at as_of (the history so far, in
-- scope or not): plain sums and maxima, grouped by the two keys alone (hashed, not sorted); the period's
-- columns come after. One range join finds them: a work order open after the period started has all its runs
-- that started before as_of joined (int_node_runs__sequenced.work_order_open_until), and `having` keeps those
-- with a run in scope. It replaced a join of the work orders in scope with their runs, each found apart
-- (PostgreSQL at 1M node runs: int_work_order_status__daily 13.0 -> 9.2 s).
run_counts as (
    select
        o.period_id,
        r.work_order_id,
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
    from periods as o
    inner join {{ ref('int_node_runs__sequenced') }} as r
        on r.work_order_open_until >= o.period_start
        and r.start_at < o.as_of
    group by o.period_id, r.work_order_id
    having max(case when {{ run_in_scope('r', 'o') }} then 1 else 0 end) = 1
),

orders as (
    select
        p.period_id, p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of, c.work_order_id,
        c.process_code, c.segment, c.current_node_code, c.current_department, c.nodes_completed, c.open_runs,
        c.last_run_cancelled, c.first_start_at, c.last_end_at
    from run_counts as c
    inner join periods as p on p.period_id = c.period_id
),

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

{% macro work_order_status(grain, progress, run_states) -%}
with periods as (
    {{ evaluated_periods(grain) }}
),

-- The worst band of the work order's runs in scope of the period.
worst_bands as (
    select
        s.period_id,
        s.work_order_id,
        max(case s.band when 'warning' then 3 when 'acceptable' then 2 when 'normal' then 1 end) as worst_band_rank
    from {{ run_states }} as s
    where s.period_id in (select period_id from periods)
    group by s.period_id, s.work_order_id
)

select
    w.period_work_order_id,
    w.period_id,
    w.period_grain,
    w.period_start_date,
    w.period_start,
    w.period_end,
    w.as_of,
    w.work_order_id,
    w.process_code,
    w.segment,
    w.current_node_code,
    w.current_department,
    w.nodes_completed,
    w.order_status,
    {{ typed("case b.worst_band_rank when 3 then 'warning' when 2 then 'acceptable' when 1 then 'normal' end", 'string') }} as worst_band,
    w.first_start_at,
    w.last_end_at,
    w.e2e_commitment_version_id,
    w.e2e_run_seconds,
    w.e2e_state
from {{ progress }} as w
left join worst_bands as b
    on b.period_id = w.period_id
    and b.work_order_id = w.work_order_id
where w.period_id in (select period_id from periods)
{%- endmacro %}
