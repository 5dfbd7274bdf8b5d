{#- PostgreSQL plans a query by its tables' statistics, which autovacuum gathers only some time after a table
    is written (and never where it is off): a table dbt has just built would be read by the next model with
    none, and planned as if a handful of rows. DuckDB needs none.
    A table is analysed when it has no statistics (built just now) or has grown by a tenth or more since it
    last had (its pages: what a run wrote, in this transaction), the rule of the landing tables
    (Warehouse._analyze_changed) and of autovacuum. One more day of a long history changes a table by far less,
    and analysing the five largest anyway cost PostgreSQL 1.8 s of the 1M history's one more day. -#}
{% macro analyze_for_planner(relation) -%}
    {{ return(adapter.dispatch('analyze_for_planner', 'service_commitments')(relation)) }}
{%- endmacro %}

{% macro default__analyze_for_planner(relation) -%}
    select 1
{%- endmacro %}

{% macro postgres__analyze_for_planner(relation) -%}
    {%- set name = relation.include(database=false) -%}
    do $$
    begin
        if (
            select c.reltuples < 0
                or pg_relation_size(c.oid) >= 1.1 * c.relpages * current_setting('block_size')::bigint
            from pg_class as c
            where c.oid = '{{ name }}'::regclass
        ) then
            analyze {{ name }};
        end if;
    end
    $$
{%- endmacro %}
