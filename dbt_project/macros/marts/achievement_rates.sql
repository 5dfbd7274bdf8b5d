{#-
  The body of achievement_rates_daily, _weekly and _monthly (SEMANTICS.md "Rates"), from the node run
  states of the same grain (`run_states`). One body for the three grains, like node_run_states
  (macros/marts/node_run_states.sql).
-#}
{% macro achievement_rates(grain, run_states) -%}
{%- set states = ['completed_normal', 'completed_acceptable', 'completed_warning',
                  'in_progress_normal', 'in_progress_acceptable', 'in_progress_warning',
                  'cancelled', 'no_commitment'] -%}
{%- set dims = ['process_code', 'node_code', 'department', 'position', 'segment'] -%}
{%- set period_columns = 'period_id, period_grain, period_start_date, period_start, period_end, as_of' -%}
with finest as (
    select
        {{ period_columns }},
        process_code,
        node_code,
        coalesce(department, '(none)') as department,
        coalesce(position, '(none)') as position,
        coalesce(segment, '(none)') as segment,
        count(*) as total_runs,
        {%- for s in states %}
        sum(case when state = '{{ s }}' then 1 else 0 end) as {{ s }},
        {%- endfor %}
        -- What a reader adds across periods, and the limits the runs were judged by: counted here, once per
        -- period, so the BI view (rpt_achievement_rates) does not aggregate every grain's runs at each read.
        sum(case when start_at >= period_start then 1 else 0 end) as runs_started_in_period,
        sum(case when run_status = 'completed' then 1 else 0 end) as runs_completed_in_period,
        min(commitment_version_id) as first_version,
        max(commitment_version_id) as last_version,
        min(commitment_seconds) as commitment_seconds,
        min(tolerance_seconds) as tolerance_seconds
    from {{ run_states }}
    where period_id in (select period_id from ({{ evaluated_periods(grain) }}) as p)
    group by {{ period_columns }}, process_code, node_code, department, position, segment
),

rolled as (
    {%- for level, keep in rate_grouping_levels().items() %}
    select
        {{ period_columns }},
        '{{ level }}' as grouping_level,
        {%- for d in dims %}
        {{ d if d in keep else "'*'" }} as {{ d }},
        {%- endfor %}
        sum(total_runs) as total_runs,
        {%- for s in states %}
        sum({{ s }}) as {{ s }},
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
    group by {{ period_columns }}{% for d in keep %}, {{ d }}{% endfor %}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

rated as (
    select
        *,
        total_runs - cancelled - no_commitment as evaluated_runs,
        completed_normal + completed_acceptable + completed_warning as completed_judged_runs
    from rolled
)

{%- set normal = "cast(completed_normal + in_progress_normal as " ~ type_double() ~ ")" %}
select
    {{ typed(dbt.concat(["period_id", "'|'", "grouping_level", "'|'", "process_code", "'|'", "node_code", "'|'", "department", "'|'", "position", "'|'", "segment"]), 'string') }} as achievement_rate_id,
    {{ typed_period_columns() }},
    {{ typed('grouping_level', 'string') }} as grouping_level,
    {%- for d in dims %}
    {{ typed(d, 'string') }} as {{ d }},
    {%- endfor %}
    {{ typed('total_runs', 'bigint') }} as total_runs,
    {%- for s in states %}
    {{ typed(s, 'bigint') }} as {{ s }},
    {%- endfor %}
    {{ typed('evaluated_runs', 'bigint') }} as evaluated_runs,
    {{ typed('case when evaluated_runs > 0 then ' ~ normal ~ ' / evaluated_runs end', 'double') }} as normal_share,
    {{ typed('case when evaluated_runs > 0 then cast(completed_acceptable + in_progress_acceptable as ' ~ type_double() ~ ') / evaluated_runs end', 'double') }} as acceptable_share,
    {{ typed('case when evaluated_runs > 0 then cast(completed_warning + in_progress_warning as ' ~ type_double() ~ ') / evaluated_runs end', 'double') }} as warning_share,
    -- 服务承诺达成率: the commitment achievement rate is the normal share.
    {{ typed('case when evaluated_runs > 0 then ' ~ normal ~ ' / evaluated_runs end', 'double') }} as achievement_rate,
    {{ typed('case when completed_judged_runs > 0 then cast(completed_normal as ' ~ type_double() ~ ') / completed_judged_runs end', 'double') }} as completed_achievement_rate,
    {{ typed('case when evaluated_runs > 0 then ' ~ normal ~ ' / evaluated_runs >= ' ~ var('raise_commitment_at') ~ ' else false end', 'boolean') }} as raise_commitment,
    {{ typed('case when evaluated_runs > 0 then ' ~ normal ~ ' / evaluated_runs < ' ~ var('improve_process_below') ~ ' else false end', 'boolean') }} as improve_process,
    {{ typed('runs_started_in_period', 'bigint') }} as runs_started_in_period,
    {{ typed('runs_completed_in_period', 'bigint') }} as runs_completed_in_period,
    {{ typed('commitment_version_id', 'string') }} as commitment_version_id,
    {{ typed('commitment_seconds', 'bigint') }} as commitment_seconds,
    {{ typed('tolerance_seconds', 'bigint') }} as tolerance_seconds
from rated
{%- endmacro %}
