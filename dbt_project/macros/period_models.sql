{#-
  The per-period models, written once and instantiated per grain (day, week, month) by one-line models
  in models/marts/periods. Each is incremental by period: a run for a window replaces exactly the
  periods that start in it, so a backfill, a timely run and a rerun write identical rows.
-#}

{% macro typed_period_columns() -%}
    {{ typed('period_id', 'string') }} as period_id,
    {{ typed('period_grain', 'string') }} as period_grain,
    {{ typed('period_start_date', 'date') }} as period_start_date,
    {{ typed('period_start', 'timestamp') }} as period_start,
    {{ typed('period_end', 'timestamp') }} as period_end,
    {{ typed('as_of', 'timestamp') }} as as_of
{%- endmacro %}

{% macro period_model_config(grain) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='period_id',
        on_schema_change='fail',
        tags=['period_' ~ grain],
        contract={'enforced': true},
        post_hook=["{{ index_on(this, ['period_id']) }}", "{{ index_on(this, ['period_start_date']) }}"]
    ) }}
{%- endmacro %}

{#- The periods of one grain that a run evaluates, each with its as_of = min(period_end, now). -#}
{% macro evaluated_periods(grain) -%}
    select
        period_id,
        period_grain,
        period_start_date,
        period_start,
        period_end,
        case when period_end < {{ as_of_cap() }} then period_end else {{ as_of_cap() }} end as as_of
    from {{ ref('dim_periods') }}
    where period_grain = '{{ grain }}'
        and period_start < {{ as_of_cap() }}
    {%- if window_is_set() %}
        and period_start_date >= cast('{{ var("window_start") }}' as date)
        and period_start_date < cast('{{ var("window_end") }}' as date)
    {%- else %}
        and period_end > (select min(start_at) from {{ ref('fct_node_runs') }})
    {%- endif %}
{%- endmacro %}

{#-
  The commitment a run is judged by: the version in force at `at` for its own segment, else for
  segment '*' (SEMANTICS.md "Commitments"). Joins dim_commitments as `own` and `fallback`.
-#}
{% macro join_commitment_in_force(runs, node, segment, at) -%}
    {%- for alias, seg in [('own', segment), ('fallback', "'*'")] %}
    left join {{ ref('dim_commitments') }} as {{ alias }}
        on {{ alias }}.process_code = {{ runs }}.process_code
        and {{ alias }}.node_code = {{ node }}
        and {{ alias }}.segment = {{ seg }}
        and {{ alias }}.valid_from <= {{ at }}
        and ({{ alias }}.valid_to is null or {{ at }} < {{ alias }}.valid_to)
    {%- endfor %}
{%- endmacro %}

{#- Status of a run at an instant (SEMANTICS.md "State as of an instant T"). -#}
{% macro run_status_at(runs, at) -%}
    case
            when {{ runs }}.cancelled_at < {{ at }} then 'cancelled'
            when {{ runs }}.end_at < {{ at }} then 'completed'
            else 'in_progress'
        end
{%- endmacro %}

{% macro commitment_columns(prefix='') -%}
        coalesce(own.commitment_version_id, fallback.commitment_version_id) as {{ prefix }}commitment_version_id,
        coalesce(own.commitment_seconds, fallback.commitment_seconds) as {{ prefix }}commitment_seconds,
        coalesce(own.tolerance_seconds, fallback.tolerance_seconds) as {{ prefix }}tolerance_seconds,
        coalesce(own.clock, fallback.clock) as clock
{%- endmacro %}

{#- Where the seven states are decided (SEMANTICS.md "State as of an instant T", "Periods"). -#}
{% macro node_run_states(grain) -%}
{{ period_model_config(grain) }}
with periods as (
    {{ evaluated_periods(grain) }}
),

-- In scope: open at some moment of the period. Started before as_of, and neither ended nor
-- cancelled before the period started (open_until = the earlier of the two, far future while open).
in_scope as (
    select
        p.period_id, p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of,
        r.node_run_id, r.work_order_id, r.process_code, r.node_code, r.visit, r.segment,
        r.department, r.position, r.source_system, r.start_at, r.end_at, r.cancelled_at
    from periods as p
    inner join {{ ref('fct_node_runs') }} as r
        on r.open_until >= p.period_start
        and r.start_at < p.as_of
),

-- The commitment version in force at the run's start, for its segment, else for segment '*'.
judged as (
    select
        s.*,
        {{ commitment_columns() }},
        {{ run_status_at('s', 's.as_of') }} as run_status
    from in_scope as s
    {{ join_commitment_in_force('s', 's.node_code', 's.segment', 's.start_at') }}
),

-- Where the run time ends: its end when completed, as_of while in progress (none when cancelled).
bounded as (
    select
        *,
        case
            when run_status = 'completed' then end_at
            when run_status = 'in_progress' then as_of
        end as measured_until
    from judged
),

{{ measured_on_clock('timed', 'bounded', ['period_id', 'node_run_id'], 'measured_until') }},

banded as (
    select
        *,
        {{ run_band('run_status', 'run_seconds', 'commitment_seconds', 'tolerance_seconds') }} as band
    from timed
)

select
    {{ typed(dbt.concat(["period_id", "'|'", "node_run_id"]), 'string') }} as period_node_run_id,
    {{ typed_period_columns() }},
    {{ typed('node_run_id', 'string') }} as node_run_id,
    {{ typed('work_order_id', 'string') }} as work_order_id,
    {{ typed('process_code', 'string') }} as process_code,
    {{ typed('node_code', 'string') }} as node_code,
    {{ typed('visit', 'int') }} as visit,
    {{ typed('segment', 'string') }} as segment,
    {{ typed('department', 'string') }} as department,
    {{ typed('position', 'string') }} as position,
    {{ typed('source_system', 'string') }} as source_system,
    {{ typed('start_at', 'timestamp') }} as start_at,
    -- Only what was known at as_of: a closed period's rows never depend on when the pipeline ran.
    {{ typed('case when end_at < as_of then end_at end', 'timestamp') }} as end_at,
    {{ typed('case when cancelled_at < as_of then cancelled_at end', 'timestamp') }} as cancelled_at,
    {{ typed('run_status', 'string') }} as run_status,
    {{ typed('run_seconds', 'double') }} as run_seconds,
    {{ typed('wall_seconds', 'double') }} as wall_seconds,
    {{ typed('paused_seconds', 'double') }} as paused_seconds,
    {{ typed('commitment_version_id', 'string') }} as commitment_version_id,
    {{ typed('clock', 'string') }} as clock,
    {{ typed('calendar_version_id', 'string') }} as calendar_version_id,
    {{ typed('commitment_seconds', 'bigint') }} as commitment_seconds,
    {{ typed('tolerance_seconds', 'bigint') }} as tolerance_seconds,
    {{ typed('band', 'string') }} as band,
    -- A cancelled run is `cancelled` whether or not a commitment exists, so the states are disjoint.
    {{ typed("case
        when run_status = 'cancelled' then 'cancelled'
        when band is null then 'no_commitment'
        else " ~ dbt.concat(["run_status", "'_'", "band"]) ~ "
    end", 'string') }} as state
from banded
{%- endmacro %}

{#- Work-order status per period (SEMANTICS.md "Work-order status table"). -#}
{% macro work_order_status(grain, states_model) -%}
{{ period_model_config(grain) }}
with periods as (
    {{ evaluated_periods(grain) }}
),

in_scope as (
    select
        period_id,
        work_order_id,
        max(case band when 'warning' then 3 when 'acceptable' then 2 when 'normal' then 1 end) as worst_band_rank
    from {{ ref(states_model) }}
    where period_id in (select period_id from periods)
    group by period_id, work_order_id
),

-- Every run of those work orders that exists at as_of, in scope or not (the history so far).
order_runs as (
    select
        p.period_id, p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of,
        o.worst_band_rank, r.work_order_id, r.process_code, r.node_code, r.segment, r.department,
        r.start_at, r.end_at, r.cancelled_at,
        {{ run_status_at('r', 'p.as_of') }} as run_status,
        row_number() over (partition by p.period_id, r.work_order_id order by r.start_at desc, r.visit desc, r.node_code) as recency,
        row_number() over (partition by p.period_id, r.work_order_id order by r.start_at, r.visit, r.node_code) as seniority
    from in_scope as o
    inner join periods as p on p.period_id = o.period_id
    inner join {{ ref('fct_node_runs') }} as r
        on r.work_order_id = o.work_order_id
        and r.start_at < p.as_of
),

orders as (
    select
        period_id, period_grain, period_start_date, period_start, period_end, as_of, work_order_id,
        max(process_code) as process_code,
        max(case when seniority = 1 then segment end) as segment,
        max(case when recency = 1 then node_code end) as current_node_code,
        max(case when recency = 1 then department end) as current_department,
        count(distinct case when run_status = 'completed' then node_code end) as nodes_completed,
        sum(case when run_status = 'in_progress' then 1 else 0 end) as open_runs,
        max(case when recency = 1 and run_status = 'cancelled' then 1 else 0 end) as last_run_cancelled,
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

{#- The grouping levels of the achievement-rate marts; '*' marks a rolled-up dimension. -#}
{% macro rate_grouping_levels() -%}
    {{ return({
        'all': [],
        'process': ['process_code'],
        'process_node': ['process_code', 'node_code'],
        'process_segment': ['process_code', 'segment'],
        'process_node_segment': ['process_code', 'node_code', 'segment'],
        'process_department': ['process_code', 'department'],
        'department': ['department'],
        'department_position': ['department', 'position'],
        'segment': ['segment'],
    }) }}
{%- endmacro %}


{#- Achievement rates per period and grouping (SEMANTICS.md "Rates"). -#}
{% macro achievement_rates(grain, states_model) -%}
{{ period_model_config(grain) }}
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
        sum(case when state = '{{ s }}' then 1 else 0 end) as {{ s }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref(states_model) }}
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
        sum({{ s }}) as {{ s }}{{ ',' if not loop.last }}
        {%- endfor %}
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
    {{ typed('case when evaluated_runs > 0 then ' ~ normal ~ ' / evaluated_runs < ' ~ var('improve_process_below') ~ ' else false end', 'boolean') }} as improve_process
from rated
{%- endmacro %}
