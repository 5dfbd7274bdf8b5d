{#-
  Every build of a mart gives it a new write id, in <schema>_landing.mart_writes: the DuckDB snapshot
  (orchestration/reporting/snapshot.py) reads a mart for its digests only when its id differs from the one
  its copy was levelled at. A job writes a few marts; the others, read in full after every job only to find
  them unchanged, were most of the snapshot's cost at 10M node runs. A random id, not a counter: a warehouse
  restored from a backup never comes back to an id the snapshot has seen with other rows. In the model's own
  transaction, so the id changes if and only if the write is committed. PostgreSQL has no snapshot.
-#}
{% macro record_mart_write(relation) -%}
    {{ return(adapter.dispatch('record_mart_write', 'service_commitments')(relation)) }}
{%- endmacro %}

{% macro default__record_mart_write(relation) -%}
    select 1
{%- endmacro %}

{% macro duckdb__record_mart_write(relation) -%}
    {%- set writes = target.schema ~ '_landing.mart_writes' -%}
    create schema if not exists {{ target.schema }}_landing;
    create table if not exists {{ writes }} (relation varchar primary key, write_id varchar not null);
    insert or replace into {{ writes }}
    values ('{{ relation.schema }}.{{ relation.identifier }}', cast(uuid() as varchar))
{%- endmacro %}
