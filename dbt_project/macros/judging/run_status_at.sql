{#- Status of a run at an instant (SEMANTICS.md "State as of an instant T"). -#}
{% macro run_status_at(runs, at) -%}
    case
            when {{ runs }}.cancelled_at < {{ at }} then 'cancelled'
            when {{ runs }}.end_at < {{ at }} then 'completed'
            else 'in_progress'
        end
{%- endmacro %}
