{#- `column` is one of the work orders the query `changed` returns. -#}
{% macro in_changed_work_orders(column, changed) -%}
    {{ return(adapter.dispatch('in_changed_work_orders', 'service_commitments')(column, changed)) }}
{%- endmacro %}

{% macro default__in_changed_work_orders(column, changed) -%}
    {{ column }} in ({{ changed }})
{%- endmacro %}

{#- PostgreSQL pushes `= any(array(...))` (an init-plan parameter) below the staging views' window
    functions into an index scan; an IN semi-join would dedupe the whole landing history first. -#}
{% macro postgres__in_changed_work_orders(column, changed) -%}
    {{ column }} = any(array({{ changed }}))
{%- endmacro %}
