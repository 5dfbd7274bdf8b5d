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
        and {{ period_starts_in_window() }}
    {%- else %}
        and period_end > (select min(start_at) from {{ ref('fct_node_runs') }})
    {%- endif %}
{%- endmacro %}
