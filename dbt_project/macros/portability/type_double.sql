{#- A 64-bit float everywhere: dbt.type_float() is a 32-bit REAL on DuckDB, too coarse for epoch seconds. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'service_commitments')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}
