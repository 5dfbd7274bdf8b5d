{#-
  服务承诺达成率 for BI tools and the dashboard: the three grains of achievement_rates_* in one relation,
  with Chinese and English names, the period's label and local bounds, the commitment of node-level rows,
  and counts that add up across periods (runs_started_in_period, runs_completed_in_period).
  The rates, counts and limits are the marts' (macros/marts/achievement_rates.sql), counted once per period
  when it is built: nothing is re-judged or re-counted here, so a read costs what the rows it returns do.
-#}
{%- set rates = period_marts('achievement_rates') -%}
{%- if rates | trim and relations_exist([ref('dim_periods'), ref('dim_processes'), ref('dim_nodes')]) %}
with rates as (
    {{ rates }}
)

select
    {{ typed('r.achievement_rate_id', 'string') }} as achievement_rate_id,
    {{ typed('r.period_id', 'string') }} as period_id,
    {{ typed('r.period_grain', 'string') }} as period_grain,
    {{ typed('r.period_start_date', 'date') }} as period_start_date,
    {{ typed('p.period_label', 'string') }} as period_label,
    {{ typed('r.period_start', 'timestamp') }} as period_start_utc,
    {{ typed('r.period_end', 'timestamp') }} as period_end_utc,
    {{ typed('r.as_of', 'timestamp') }} as as_of_utc,
    {{ business_local_time('r.as_of') }} as as_of_local,
    {{ typed('r.grouping_level', 'string') }} as grouping_level,
    {{ typed('r.process_code', 'string') }} as process_code,
    {{ typed('pr.process_name', 'string') }} as process_name_zh,
    {{ typed('pr.process_name_en', 'string') }} as process_name_en,
    {{ typed('r.node_code', 'string') }} as node_code,
    {{ typed('n.node_name', 'string') }} as node_name_zh,
    {{ typed('n.node_name_en', 'string') }} as node_name_en,
    {{ typed('r.department', 'string') }} as department,
    {{ typed('r.position', 'string') }} as position,
    {{ typed('r.segment', 'string') }} as segment,
    {{ typed('r.total_runs', 'bigint') }} as total_runs,
    {{ typed('r.evaluated_runs', 'bigint') }} as evaluated_runs,
    {%- for s in ['completed_normal', 'completed_acceptable', 'completed_warning', 'in_progress_normal',
                  'in_progress_acceptable', 'in_progress_warning', 'cancelled', 'no_commitment'] %}
    {{ typed('r.' ~ s, 'bigint') }} as {{ s }},
    {%- endfor %}
    {{ typed('r.runs_started_in_period', 'bigint') }} as runs_started_in_period,
    {{ typed('r.runs_completed_in_period', 'bigint') }} as runs_completed_in_period,
    {{ typed('r.achievement_rate', 'double') }} as achievement_rate,
    {{ typed('r.completed_achievement_rate', 'double') }} as completed_achievement_rate,
    {{ typed('r.normal_share', 'double') }} as normal_share,
    {{ typed('r.acceptable_share', 'double') }} as acceptable_share,
    {{ typed('r.warning_share', 'double') }} as warning_share,
    {{ typed('r.raise_commitment', 'boolean') }} as raise_commitment,
    {{ typed('r.improve_process', 'boolean') }} as improve_process,
    {{ typed('r.commitment_version_id', 'string') }} as commitment_version_id,
    {{ typed('r.commitment_seconds', 'bigint') }} as commitment_seconds,
    {{ typed('r.tolerance_seconds', 'bigint') }} as tolerance_seconds
from rates as r
{{ business_zone_join() }}
left join {{ ref('dim_periods') }} as p on r.period_id = p.period_id
left join {{ ref('dim_processes') }} as pr on r.process_code = pr.process_code
left join {{ ref('dim_nodes') }} as n on r.process_code = n.process_code and r.node_code = n.node_code
{%- else %}
    {{ empty_as_contract() }}
{%- endif %}
