{#- Indexes matter on PostgreSQL (row store); DuckDB prunes by zone maps and needs none. -#}
{% macro index_on(relation, columns) -%}
    {{ return(adapter.dispatch('index_on', 'service_commitments')(relation, columns)) }}
{%- endmacro %}

{% macro default__index_on(relation, columns) -%}
    select 1
{%- endmacro %}

{% macro postgres__index_on(relation, columns) -%}
    create index if not exists {{ relation.identifier }}_{{ columns | join('_') }}_ix
    on {{ relation }} ({{ columns | join(', ') }})
{%- endmacro %}
