{#-
  服务承诺达成率 for BI tools and the dashboard: the three grains of achievement_rates_* in one relation,
  with Chinese and English names, the period's label and local bounds, the commitment of node-level rows,
  and counts that add up across periods (runs_started_in_period, runs_completed_in_period).
  The rates are the marts' (macros/marts/achievement_rates.sql); nothing is re-judged here.
-#}
{%- set rates = period_marts('achievement_rates') -%}
{%- set runs = period_marts('node_run_states') -%}
{%- if rates | trim and runs | trim and relations_exist([ref('dim_periods'), ref('dim_processes'), ref('dim_nodes')]) %}
{%- set dims = ['process_code', 'node_code', 'department', 'position', 'segment'] -%}
with rates as (
    {{ rates }}
),

runs as (
    {{ runs }}
),

-- Per finest group: runs that started in the period, runs that ended in it (in scope and completed at
-- as_of means end_at in [period_start, as_of)), and the commitment versions the runs were judged by.
finest as (
    select
        period_id,
        process_code,
        node_code,
        coalesce(department, '(none)') as department,
        coalesce(position, '(none)') as position,
        coalesce(segment, '(none)') as segment,
        sum(case when start_at >= period_start then 1 else 0 end) as runs_started_in_period,
        sum(case when run_status = 'completed' then 1 else 0 end) as runs_completed_in_period,
        min(commitment_version_id) as first_version,
        max(commitment_version_id) as last_version,
        min(commitment_seconds) as commitment_seconds,
        min(tolerance_seconds) as tolerance_seconds
    from runs
    group by period_id, process_code, node_code, department, position, segment
),

rolled as (
    {%- for level, keep in rate_grouping_levels().items() %}
    select
        period_id,
        '{{ level }}' as grouping_level,
        {%- for d in dims %}
        {{ d if d in keep else "'*'" }} as {{ d }},
        {%- endfor %}
        sum(runs_started_in_period) as runs_started_in_period,
        sum(runs_completed_in_period) as runs_completed_in_period,
        {%- if 'node_code' in keep %}
        -- A node-level row shows its limits when all its runs were judged by one version.
        case when min(first_version) = max(last_version) then min(first_version) end as commitment_version_id,
        case when min(first_version) = max(last_version) then min(commitment_seconds) end as commitment_seconds,
        case when min(first_version) = max(last_version) then min(tolerance_seconds) end as tolerance_seconds
        {%- else %}
        {{ typed('null', 'string') }} as commitment_version_id,
        {{ typed('null', 'bigint') }} as commitment_seconds,
        {{ typed('null', 'bigint') }} as tolerance_seconds
        {%- endif %}
    from finest
    group by period_id{% for d in keep %}, {{ d }}{% endfor %}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
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
    {{ typed('coalesce(a.runs_started_in_period, 0)', 'bigint') }} as runs_started_in_period,
    {{ typed('coalesce(a.runs_completed_in_period, 0)', 'bigint') }} as runs_completed_in_period,
    {{ typed('r.achievement_rate', 'double') }} as achievement_rate,
    {{ typed('r.completed_achievement_rate', 'double') }} as completed_achievement_rate,
    {{ typed('r.normal_share', 'double') }} as normal_share,
    {{ typed('r.acceptable_share', 'double') }} as acceptable_share,
    {{ typed('r.warning_share', 'double') }} as warning_share,
    {{ typed('r.raise_commitment', 'boolean') }} as raise_commitment,
    {{ typed('r.improve_process', 'boolean') }} as improve_process,
    {{ typed('a.commitment_version_id', 'string') }} as commitment_version_id,
    {{ typed('a.commitment_seconds', 'bigint') }} as commitment_seconds,
    {{ typed('a.tolerance_seconds', 'bigint') }} as tolerance_seconds
from rates as r
{{ business_zone_join() }}
left join rolled as a
    on
        r.period_id = a.period_id
        and r.grouping_level = a.grouping_level
        and r.process_code = a.process_code
        and r.node_code = a.node_code
        and r.department = a.department
        and r.position = a.position
        and r.segment = a.segment
left join {{ ref('dim_periods') }} as p on r.period_id = p.period_id
left join {{ ref('dim_processes') }} as pr on r.process_code = pr.process_code
left join {{ ref('dim_nodes') }} as n on r.process_code = n.process_code and r.node_code = n.node_code
{%- else %}
    {{ empty_as_contract() }}
{%- endif %}
