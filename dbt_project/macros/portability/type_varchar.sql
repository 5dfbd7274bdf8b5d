{#- Strings as varchar: dbt.type_string() is text on PostgreSQL, which an enforced varchar contract rejects
    on the next incremental run. -#}
{% macro type_varchar() -%}
    {{ return(adapter.dispatch('type_varchar', 'service_commitments')()) }}
{%- endmacro %}

{% macro default__type_varchar() -%}
    varchar
{%- endmacro %}
