{#- The live evaluation (orchestration/monitoring) passes the UTC instant it started landing rows at. -#}
{% macro changed_since_is_set() -%}
    {{ return(var('changed_since', none) is not none) }}
{%- endmacro %}
