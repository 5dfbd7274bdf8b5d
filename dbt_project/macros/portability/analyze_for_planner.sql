{#- PostgreSQL plans a query by its tables' statistics, which autovacuum gathers only some time after a table
    is written (and never where it is off): a table dbt has just built would be read by the next model with
    none, and planned as if a handful of rows. DuckDB needs none. -#}
{% macro analyze_for_planner(relation) -%}
    {{ return(adapter.dispatch('analyze_for_planner', 'service_commitments')(relation)) }}
{%- endmacro %}

{% macro default__analyze_for_planner(relation) -%}
    select 1
{%- endmacro %}

{% macro postgres__analyze_for_planner(relation) -%}
    analyze {{ relation }}
{%- endmacro %}
