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

{#- An index a model no longer declares, dropped so that a warehouse built before keeps no dead weight on
    every write (the name index_on gave it). -#}
{% macro drop_index_on(relation, columns) -%}
    {{ return(adapter.dispatch('drop_index_on', 'service_commitments')(relation, columns)) }}
{%- endmacro %}

{% macro default__drop_index_on(relation, columns) -%}
    select 1
{%- endmacro %}

{% macro postgres__drop_index_on(relation, columns) -%}
    drop index if exists {{ relation.schema }}.{{ relation.identifier }}_{{ columns | join('_') }}_ix
{%- endmacro %}
