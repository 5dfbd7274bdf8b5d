{#-
  节点运行状态 for BI tools and the dashboard: the three grains of node_run_states_* in one relation, with
  the names joined and local business time beside UTC. A work order's timeline in a period is its rows
  of that period_id, ordered by start_at_utc.
-#}
{%- set runs = period_marts('node_run_states') %}
{%- if runs | trim and relations_exist([ref('dim_periods'), ref('dim_processes'), ref('dim_nodes')]) %}
with runs as (
    {{ runs }}
)

select
    {{ typed('r.period_node_run_id', 'string') }} as period_node_run_id,
    {{ typed('r.period_id', 'string') }} as period_id,
    {{ typed('r.period_grain', 'string') }} as period_grain,
    {{ typed('r.period_start_date', 'date') }} as period_start_date,
    {{ typed('p.period_label', 'string') }} as period_label,
    {{ typed('r.as_of', 'timestamp') }} as as_of_utc,
    {{ typed('r.node_run_id', 'string') }} as node_run_id,
    {{ typed('r.work_order_id', 'string') }} as work_order_id,
    {{ typed('r.process_code', 'string') }} as process_code,
    {{ typed('pr.process_name', 'string') }} as process_name_zh,
    {{ typed('pr.process_name_en', 'string') }} as process_name_en,
    {{ typed('r.node_code', 'string') }} as node_code,
    {{ typed('n.node_name', 'string') }} as node_name_zh,
    {{ typed('n.node_name_en', 'string') }} as node_name_en,
    {{ typed('n.node_order', 'int') }} as node_order,
    {{ typed('r.visit', 'int') }} as visit,
    {{ typed('r.department', 'string') }} as department,
    {{ typed('r.position', 'string') }} as position,
    {{ typed('r.segment', 'string') }} as segment,
    {{ typed('r.source_system', 'string') }} as source_system,
    {{ typed('r.start_at', 'timestamp') }} as start_at_utc,
    {{ business_local_time('r.start_at') }} as start_at_local,
    {{ typed('r.end_at', 'timestamp') }} as end_at_utc,
    {{ business_local_time('r.end_at') }} as end_at_local,
    {{ typed('r.cancelled_at', 'timestamp') }} as cancelled_at_utc,
    {{ business_local_time('r.cancelled_at') }} as cancelled_at_local,
    {{ typed('r.run_status', 'string') }} as run_status,
    {{ typed('r.run_seconds', 'double') }} as run_seconds,
    {{ typed('r.wall_seconds', 'double') }} as wall_seconds,
    {{ typed('r.paused_seconds', 'double') }} as paused_seconds,
    {{ typed('r.commitment_seconds', 'bigint') }} as commitment_seconds,
    {{ typed('r.tolerance_seconds', 'bigint') }} as tolerance_seconds,
    {{ typed('r.clock', 'string') }} as clock,
    {{ typed('r.commitment_version_id', 'string') }} as commitment_version_id,
    {{ typed('r.band', 'string') }} as band,
    {{ typed('r.state', 'string') }} as state,
    -- Additive across periods: a run starts in exactly one period of a grain.
    {{ typed('case when r.start_at >= r.period_start then 1 else 0 end', 'int') }} as started_in_period
from runs as r
{{ business_zone_join() }}
left join {{ ref('dim_periods') }} as p on r.period_id = p.period_id
left join {{ ref('dim_processes') }} as pr on r.process_code = pr.process_code
left join {{ ref('dim_nodes') }} as n on r.process_code = n.process_code and r.node_code = n.node_code
{%- else %}
    {{ empty_as_contract() }}
{%- endif %}
