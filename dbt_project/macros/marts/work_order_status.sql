{#-
  The body of work_order_status_daily, _weekly and _monthly (SEMANTICS.md "Work-order status table"),
  from the node run states of the same grain (`run_states`). One body for the three grains, like
  node_run_states (macros/marts/node_run_states.sql), and for every warehouse.

  Each (period, work order) row aggregates the work order's runs that exist at the period's as_of
  (start_at < as_of: in scope or not, the history so far) with plain counts and maxima. What would need the
  runs' order in each period is read from columns fct_node_runs computes once per work order:
    run_seq = 1                     the first run, whose segment is the work order's
    start_at < as_of <= latest_until  the latest run: the current node and department, and whether the
                                    order was cancelled
    node_completed_from < as_of     one row per completed node (on its first visit), so no count(distinct)
  A node with a run both ended and cancelled (node_completion_revocable) is completed only while such a run
  is; those nodes are counted from their runs' statuses in rare_nodes_completed.
  Before, each period numbered its runs with windows: on PostgreSQL two row_number() windows over the
  (period, work order, run) rows, whose sort spilled to disk (work_order_status_daily 17-27 s at 1M node runs);
  on DuckDB windows over the runs of the work orders in scope (BENCHMARKS.md).
-#}
{% macro work_order_status(grain, run_states) -%}
with periods as (
    {{ evaluated_periods(grain) }}
),

in_scope as (
    select
        period_id,
        work_order_id,
        max(case band when 'warning' then 3 when 'acceptable' then 2 when 'normal' then 1 end) as worst_band_rank
    from {{ run_states }}
    where period_id in (select period_id from periods)
    group by period_id, work_order_id
),

order_runs as (
    select
        p.period_id, p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of,
        o.work_order_id, o.worst_band_rank, r.process_code, r.node_code, r.segment, r.department,
        r.start_at, r.end_at, r.run_seq, r.latest_until, r.node_completed_from,
        {{ run_status_at('r', 'p.as_of') }} as run_status
    from in_scope as o
    inner join periods as p on p.period_id = o.period_id
    inner join {{ ref('fct_node_runs') }} as r
        on r.work_order_id = o.work_order_id
        and r.start_at < p.as_of
),

order_counts as (
    select
        period_id, period_grain, period_start_date, period_start, period_end, as_of, work_order_id,
        max(process_code) as process_code,
        max(case when run_seq = 1 then segment end) as segment,
        max(case when latest_until >= as_of then node_code end) as current_node_code,
        max(case when latest_until >= as_of then department end) as current_department,
        sum(case when node_completed_from < as_of then 1 else 0 end) as nodes_completed,
        max(case when run_status = 'in_progress' then 1 else 0 end) as open_runs,
        max(case when latest_until >= as_of and run_status = 'cancelled' then 1 else 0 end) as last_run_cancelled,
        min(start_at) as first_start_at,
        max(case when run_status = 'completed' then end_at end) as last_end_at,
        max(worst_band_rank) as worst_band_rank
    from order_runs
    group by period_id, period_grain, period_start_date, period_start, period_end, as_of, work_order_id
),

-- The runs of nodes with a run both ended and cancelled: few, and written out (materialized), so that
-- PostgreSQL, with no statistics on the flag yet, cannot look each work order in scope up a second time
-- (6.8 s at 1M node runs when it did).
revocable_runs as materialized (
    select work_order_id, node_code, start_at, end_at, cancelled_at
    from {{ ref('fct_node_runs') }}
    where node_completion_revocable
),

-- Apart from order_runs, so that the common case stays one pass (a CTE read twice is written out on
-- PostgreSQL).
rare_nodes_completed as (
    select
        o.period_id,
        o.work_order_id,
        count(distinct r.node_code) as nodes_completed
    from in_scope as o
    inner join periods as p on p.period_id = o.period_id
    inner join revocable_runs as r
        on r.work_order_id = o.work_order_id
        and r.start_at < p.as_of
    where {{ run_status_at('r', 'p.as_of') }} = 'completed'
    group by o.period_id, o.work_order_id
),

orders as (
    select
        c.period_id, c.period_grain, c.period_start_date, c.period_start, c.period_end, c.as_of, c.work_order_id,
        c.process_code, c.segment, c.current_node_code, c.current_department,
        c.nodes_completed + coalesce(x.nodes_completed, 0) as nodes_completed,
        c.open_runs, c.last_run_cancelled, c.first_start_at, c.last_end_at, c.worst_band_rank
    from order_counts as c
    left join rare_nodes_completed as x
        on x.period_id = c.period_id
        and x.work_order_id = c.work_order_id
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
