{#- Indexes matter on PostgreSQL (row store); DuckDB prunes by zone maps and needs none. -#}
{% macro index_on(relation, columns) -%}
    {{ return(adapter.dispatch('index_on', 'service_commitments')(relation, columns)) }}
{%- endmacro %}

{% macro default__index_on(relation, columns) -%}
    select 1
{%- endmacro %}

{% macro postgres__index_on(relation, columns) -%}
    create index if not exists {{ index_name(relation, columns) }}
    on {{ relation }} ({{ columns | join(', ') }})
{%- endmacro %}

{#- An index a model no longer declares, dropped so that a warehouse built before keeps no dead weight on
    every write. -#}
{% macro drop_index_on(relation, columns) -%}
    {{ return(adapter.dispatch('drop_index_on', 'service_commitments')(relation, columns)) }}
{%- endmacro %}

{% macro default__drop_index_on(relation, columns) -%}
    select 1
{%- endmacro %}

{% macro postgres__drop_index_on(relation, columns) -%}
    drop index if exists {{ relation.schema }}.{{ index_name(relation, columns) }}
{%- endmacro %}

{#- The one name index_on gives an index and drop_index_on finds it by. -#}
{% macro index_name(relation, columns) -%}
    {{ relation.identifier }}_{{ columns | join('_') }}_ix
{%- endmacro %}
