{#- The period columns every period mart starts with, cast to their contract types. -#}
{% macro typed_period_columns() -%}
    {{ typed('period_id', 'string') }} as period_id,
    {{ typed('period_grain', 'string') }} as period_grain,
    {{ typed('period_start_date', 'date') }} as period_start_date,
    {{ typed('period_start', 'timestamp') }} as period_start,
    {{ typed('period_end', 'timestamp') }} as period_end,
    {{ typed('as_of', 'timestamp') }} as as_of
{%- endmacro %}
