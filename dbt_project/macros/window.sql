{#- The partition window Dagster passes (business-zone dates, end exclusive), and "now" for as_of. -#}

{% macro window_is_set() -%}
    {{ return(var('window_start') is not none and var('window_end') is not none) }}
{%- endmacro %}

{% macro as_of_cap() -%}
    {%- set cap = var('as_of_cap') or modules.datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M:%S') -%}
    cast('{{ cap }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The live evaluation (orchestration/monitoring) passes the UTC instant it started landing rows at. -#}
{% macro changed_since_is_set() -%}
    {{ return(var('changed_since', none) is not none) }}
{%- endmacro %}

{#-
  True when fct_node_runs is being updated in place for a window (or, live, since an instant): only the
  work orders that changed are rebuilt, so a run's cost follows the changes, not the length of history.
-#}
{% macro base_table_is_incremental() -%}
    {%- if not execute or not (window_is_set() or changed_since_is_set()) or flags.FULL_REFRESH -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set existing = adapter.get_relation(database=target.database, schema=target.schema, identifier='fct_node_runs') -%}
    {{ return(existing is not none) }}
{%- endmacro %}

{#- A filter keeping only work orders with landed rows in the window (everything when not incremental). -#}
{% macro changed_work_orders_filter(column='work_order_id') -%}
    {%- if base_table_is_incremental() %}
    and {{ adapter.dispatch('in_changed_work_orders', 'service_commitments')(column, changed_work_orders_sql()) }}
    {%- endif %}
{%- endmacro %}

{% macro changed_work_orders_sql() -%}
    {%- if changed_since_is_set() %}
        select work_order_id from {{ source('landing', 'interval_runs') }}
        where extracted_at >= cast('{{ var("changed_since") }}' as {{ dbt.type_timestamp() }})
        union
        select work_order_id from {{ source('landing', 'status_events') }}
        where extracted_at >= cast('{{ var("changed_since") }}' as {{ dbt.type_timestamp() }})
    {%- else %}
        select work_order_id from {{ source('landing', 'interval_runs') }}
        where partition_date >= cast('{{ var("window_start") }}' as date)
            and partition_date < cast('{{ var("window_end") }}' as date)
        union
        select work_order_id from {{ source('landing', 'status_events') }}
        where partition_date >= cast('{{ var("window_start") }}' as date)
            and partition_date < cast('{{ var("window_end") }}' as date)
    {%- endif %}
{%- endmacro %}

{% macro default__in_changed_work_orders(column, changed) -%}
    {{ column }} in ({{ changed }})
{%- endmacro %}

{#- PostgreSQL pushes `= any(array(...))` (an init-plan parameter) below the staging views' window
    functions into an index scan; an IN semi-join would dedupe the whole landing history first. -#}
{% macro postgres__in_changed_work_orders(column, changed) -%}
    {{ column }} = any(array({{ changed }}))
{%- endmacro %}
