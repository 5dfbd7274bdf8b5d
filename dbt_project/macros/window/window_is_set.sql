{#- The partition window Dagster passes as window_start, window_end (window_value.sql) (business-zone dates, end
    exclusive). Unset: everything. -#}
{% macro window_is_set() -%}
    {{ return(window_value('window_start') is not none and window_value('window_end') is not none) }}
{%- endmacro %}
