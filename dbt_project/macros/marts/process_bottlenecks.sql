{#-
  The body of process_bottlenecks_<grain> (docs/CALIBRATION.md "Bottlenecks"): per period and process, how
  much each node (grouping_level process_node) and each department (process_department) holds the process
  back, from the node run states, work-order status and achievement rates of the same grain.
-#}
{% macro process_bottlenecks(grain, run_states, order_status, rates) -%}
{%- set levels = {'process_node': 'node_code', 'process_department': 'department'} -%}
with periods as (
    {{ evaluated_periods(grain) }}
),

-- Work orders whose end-to-end state is warning (only processes with an end-to-end commitment have any).
-- Not materialised (it is read twice): PostgreSQL then hashes these few to join the period's runs to them, where
-- it hashed the runs (at 1M node runs, 1,022 work orders and 502,273 runs: the join 0.64 -> 0.23 s).
warning_orders as not materialized (
    select period_id, process_code, work_order_id
    from {{ order_status }}
    where period_id in (select period_id from periods)
        and e2e_state in ('completed_warning', 'in_progress_warning')
),

warning_counts as (
    select period_id, process_code, count(*) as warning_work_orders
    from warning_orders
    group by period_id, process_code
),

runs as (
    select
        s.period_id,
        s.process_code,
        s.node_code,
        coalesce(s.department, '(none)') as department,
        s.work_order_id,
        s.visit,
        s.band,
        -- Time over the commitment limit, as of as_of, on the commitment's clock.
        case when s.band in ('acceptable', 'warning') then s.run_seconds - s.commitment_seconds else 0 end
            as excess_seconds,
        case when w.work_order_id is not null then 1 else 0 end as in_warning_order
    from {{ run_states }} as s
    left join warning_orders as w
        on w.period_id = s.period_id
        and w.work_order_id = s.work_order_id
    where s.period_id in (select period_id from periods)
),

-- Each level's work orders first, then their counts: the same figures as count(distinct work_order_id)
-- and its two filtered forms, from hash aggregates, where PostgreSQL sorted the runs for each of the three
-- (at 1M node runs: 3.0 s for the month's query).
{%- for level, column in levels.items() %}

{{ level }}_orders as (
    select
        period_id,
        process_code,
        {{ column }},
        work_order_id,
        max(case when visit > 1 then 1 else 0 end) as rework,
        max(case when band = 'warning' and in_warning_order = 1 then 1 else 0 end) as warning_in_warning,
        sum(excess_seconds) as excess_seconds,
        sum(excess_seconds * in_warning_order) as excess_seconds_in_warning_orders
    from runs
    group by period_id, process_code, {{ column }}, work_order_id
),
{%- endfor %}

grouped as (
    {%- for level, column in levels.items() %}
    select
        period_id,
        process_code,
        '{{ level }}' as grouping_level,
        {{ "node_code" if column == 'node_code' else "'*'" }} as node_code,
        {{ "department" if column == 'department' else "'*'" }} as department,
        count(work_order_id) as work_orders,
        count(case when rework = 1 then work_order_id end) as rework_work_orders,
        count(case when warning_in_warning = 1 then work_order_id end) as warning_orders_in_warning,
        sum(excess_seconds) as excess_seconds,
        sum(excess_seconds_in_warning_orders) as excess_seconds_in_warning_orders
    from {{ level }}_orders
    group by period_id, process_code, {{ column }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

-- The rate of this period and of the two before it (dim_periods: each one ends where the next starts).
trended as (
    select
        g.*,
        p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of,
        coalesce(wc.warning_work_orders, 0) as warning_work_orders,
        sum(g.excess_seconds) over (partition by g.period_id, g.process_code, g.grouping_level) as process_excess_seconds,
        r0.achievement_rate,
        r1.achievement_rate as previous_achievement_rate,
        r2.achievement_rate as achievement_rate_two_before
    from grouped as g
    inner join periods as p on p.period_id = g.period_id
    left join warning_counts as wc on wc.period_id = g.period_id and wc.process_code = g.process_code
    left join {{ ref('dim_periods') }} as p1 on p1.period_grain = p.period_grain and p1.period_end = p.period_start
    left join {{ ref('dim_periods') }} as p2 on p2.period_grain = p.period_grain and p2.period_end = p1.period_start
    {%- for alias, period in [('r0', 'p.period_id'), ('r1', 'p1.period_id'), ('r2', 'p2.period_id')] %}
    left join {{ rates }} as {{ alias }}
        on {{ alias }}.period_id = {{ period }}
        and {{ alias }}.grouping_level = g.grouping_level
        and {{ alias }}.process_code = g.process_code
        and {{ alias }}.node_code = g.node_code
        and {{ alias }}.department = g.department
        and {{ alias }}.position = '*'
        and {{ alias }}.segment = '*'
    {%- endfor %}
),

ranked as (
    select
        *,
        -- Least-squares slope of three equally spaced points: (last - first) / 2 per period. The 1e-9
        -- below keeps a slope of exactly the tolerance stable whatever the float arithmetic rounds to.
        (achievement_rate - achievement_rate_two_before) / 2 as trend_slope,
        row_number() over (
            partition by period_id, process_code, grouping_level
            order by excess_seconds desc, warning_orders_in_warning desc, node_code, department
        ) as bottleneck_rank
    from trended
)

{%- set dbl = type_double() %}
select
    {{ typed(dbt.concat(["period_id", "'|'", "process_code", "'|'", "grouping_level", "'|'", "node_code", "'|'", "department"]), 'string') }} as bottleneck_id,
    {{ typed_period_columns() }},
    {{ typed('process_code', 'string') }} as process_code,
    {{ typed('grouping_level', 'string') }} as grouping_level,
    {{ typed('node_code', 'string') }} as node_code,
    {{ typed('department', 'string') }} as department,
    {{ typed('bottleneck_rank', 'bigint') }} as bottleneck_rank,
    {{ typed('work_orders', 'bigint') }} as work_orders,
    {{ typed('warning_work_orders', 'bigint') }} as warning_work_orders,
    {{ typed('warning_orders_in_warning', 'bigint') }} as warning_orders_in_warning,
    {{ typed('case when warning_work_orders > 0 then cast(warning_orders_in_warning as ' ~ dbl ~ ') / warning_work_orders end', 'double') }} as warning_order_share,
    {{ typed('excess_seconds', 'double') }} as excess_seconds,
    {{ typed('excess_seconds_in_warning_orders', 'double') }} as excess_seconds_in_warning_orders,
    {{ typed('case when process_excess_seconds > 0 then excess_seconds / process_excess_seconds end', 'double') }} as excess_share,
    {{ typed('rework_work_orders', 'bigint') }} as rework_work_orders,
    {{ typed('case when work_orders > 0 then cast(rework_work_orders as ' ~ dbl ~ ') / work_orders end', 'double') }} as rework_share,
    {{ typed('achievement_rate', 'double') }} as achievement_rate,
    {{ typed('previous_achievement_rate', 'double') }} as previous_achievement_rate,
    {{ typed('achievement_rate - previous_achievement_rate', 'double') }} as achievement_rate_change,
    {{ typed('achievement_rate_two_before', 'double') }} as achievement_rate_two_before,
    {{ typed('trend_slope', 'double') }} as trend_slope,
    {{ typed("case
        when trend_slope is null then null
        when trend_slope > " ~ var('trend_tolerance') ~ " + 1e-9 then 'improving'
        when trend_slope < -" ~ var('trend_tolerance') ~ " - 1e-9 then 'declining'
        else 'stable'
    end", 'string') }} as trend
from ranked
{%- endmacro %}
