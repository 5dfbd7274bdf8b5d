{#-
  The body of work_order_status_daily, _weekly and _monthly (SEMANTICS.md "Work-order status table"),
  from the node run states of the same grain (`run_states`). One body for the three grains, like
  node_run_states (macros/marts/node_run_states.sql).
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

-- Every run of those work orders that exists at as_of, in scope or not (the history so far).
order_runs as (
    select
        p.period_id, p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of,
        o.worst_band_rank, r.work_order_id, r.process_code, r.node_code, r.visit, r.segment, r.department,
        r.start_at, r.end_at, r.cancelled_at,
        {{ run_status_at('r', 'p.as_of') }} as run_status
        {{- run_order_columns() }}
    from in_scope as o
    inner join periods as p on p.period_id = o.period_id
    inner join {{ ref('fct_node_runs') }} as r
        on r.work_order_id = o.work_order_id
        and r.start_at < p.as_of
),

-- The segment is the first run's; the current node and department, and whether the order was
-- cancelled, the latest run's (macros/portability/first_and_latest_runs.sql).
orders as (
    select
        period_id, period_grain, period_start_date, period_start, period_end, as_of, work_order_id,
        max(process_code) as process_code,
        {{ first_run_value('segment') }} as segment,
        {{ latest_run_value('node_code') }} as current_node_code,
        {{ latest_run_value('department') }} as current_department,
        count(distinct case when run_status = 'completed' then node_code end) as nodes_completed,
        sum(case when run_status = 'in_progress' then 1 else 0 end) as open_runs,
        case when {{ latest_run_value('run_status') }} = 'cancelled' then 1 else 0 end as last_run_cancelled,
        min(start_at) as first_start_at,
        max(case when run_status = 'completed' then end_at end) as last_end_at,
        max(worst_band_rank) as worst_band_rank
    from order_runs
    group by period_id, period_grain, period_start_date, period_start, period_end, as_of, work_order_id
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
