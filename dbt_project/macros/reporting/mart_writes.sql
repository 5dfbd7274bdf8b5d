{#-
  What the DuckDB snapshot (orchestration/reporting/snapshot.py) needs to know of the marts' writes, recorded
  in <schema>_landing.mart_writes by two hooks on every mart, in the model's own transaction:
  - before the build, what it may change (record_mart_change): the periods that start in the run's window, for
    a period mart updated incrementally (delete+insert by period_id), else the whole table (a first build, a
    full refresh, a table without periods). The range grows with each build until a publish has copied it
    (base_write_id: the write the snapshot was levelled at when the range was emptied).
  - after it, a new write id (record_mart_write).
  A mart whose id is the one its copy was levelled at is not read at all; one changed in a range only since
  that copy is read over that range; any other, whole. A job writes a few marts, and a day a few periods of
  each: reading every mart whole after every job was most of the snapshot's cost at 10M node runs. A random id,
  not a counter: a warehouse restored from a backup never comes back to an id the snapshot has seen with other
  rows. PostgreSQL has no snapshot.
-#}
{% macro record_mart_change(relation) -%}
    {{ return(adapter.dispatch('record_mart_change', 'service_commitments')(relation)) }}
{%- endmacro %}

{% macro record_mart_write(relation) -%}
    {{ return(adapter.dispatch('record_mart_write', 'service_commitments')(relation)) }}
{%- endmacro %}

{% macro default__record_mart_change(relation) -%}
    select 1
{%- endmacro %}

{% macro default__record_mart_write(relation) -%}
    select 1
{%- endmacro %}

{% macro duckdb__record_mart_change(relation) -%}
    {%- set writes = target.schema ~ '_landing.mart_writes' -%}
    {%- set in_window = config.get('unique_key') == 'period_id' and is_incremental() and window_is_set() -%}
    create schema if not exists {{ target.schema }}_landing;
    create table if not exists {{ writes }} (
        relation varchar primary key,
        write_id varchar,
        base_write_id varchar,
        changed_whole boolean not null,
        changed_from date,
        changed_to date
    );
    insert into {{ writes }} (relation, changed_whole, changed_from, changed_to)
    values (
        '{{ relation.schema }}.{{ relation.identifier }}',
        {{ 'false' if in_window else 'true' }},
        {{ "cast('" ~ window_value('window_start') ~ "' as date)" if in_window else 'null' }},
        {{ "cast('" ~ window_value('window_end') ~ "' as date)" if in_window else 'null' }}
    )
    on conflict (relation) do update set
        changed_whole = mart_writes.changed_whole or excluded.changed_whole,
        -- least and greatest skip a null: an empty range takes the new one
        changed_from = least(mart_writes.changed_from, excluded.changed_from),
        changed_to = greatest(mart_writes.changed_to, excluded.changed_to)
{%- endmacro %}

{% macro duckdb__record_mart_write(relation) -%}
    update {{ target.schema }}_landing.mart_writes
    set write_id = cast(uuid() as varchar)
    where relation = '{{ relation.schema }}.{{ relation.identifier }}'
{%- endmacro %}
