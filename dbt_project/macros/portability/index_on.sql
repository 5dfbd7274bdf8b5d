{#- Indexes matter on PostgreSQL (row store); DuckDB prunes by zone maps and needs none. -#}
{% macro index_on(relation, columns) -%}
    {{ return(adapter.dispatch('index_on', 'service_commitments')(relation, columns)) }}
{%- endmacro %}

{% macro default__index_on(relation, columns) -%}
    select 1
{%- endmacro %}

{#- Index names are per schema, and a table dbt rebuilds (a table model, a full refresh) is built beside the old
    one, which keeps its indexes and their names until dbt drops it after the hooks: `create index if not
    exists` found the old table's index and skipped, so every other rebuild left the table without one. The
    index is looked up on this table; a same-named one elsewhere is the old table's, dropped with it anyway. -#}
{% macro postgres__index_on(relation, columns) -%}
    {%- set name = index_name(relation, columns) -%}
    do $$
    begin
        if not exists (
            select 1 from pg_indexes
            where schemaname = '{{ relation.schema }}' and tablename = '{{ relation.identifier }}'
                and indexname = '{{ name }}'
        ) then
            {{ postgres__drop_index_on(relation, columns) }};
            create index {{ name }} on {{ relation }} ({{ columns | join(', ') }});
        end if;
    end
    $$
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
