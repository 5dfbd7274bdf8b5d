{#- The partition window Dagster passes as vars window_start, window_end (business-zone dates, end
    exclusive). Unset: everything. -#}
{% macro window_is_set() -%}
    {{ return(var('window_start') is not none and var('window_end') is not none) }}
{%- endmacro %}
