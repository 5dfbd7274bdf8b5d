{#- `column` is one of the work orders the query `changed` returns. `over_windows`: the filter is on a view
    with window functions partitioned by work order (the staging views under the base models), not on a
    table (the windowed tests read the marts). -#}
{% macro in_changed_work_orders(column, changed, over_windows=true) -%}
    {{ return(adapter.dispatch('in_changed_work_orders', 'service_commitments')(column, changed, over_windows)) }}
{%- endmacro %}

{% macro default__in_changed_work_orders(column, changed, over_windows=true) -%}
    {{ column }} in ({{ changed }})
{%- endmacro %}

{#- PostgreSQL pushes `= any(array(...))` (an init-plan parameter) below the staging views' window
    functions into an index scan; an IN semi-join would dedupe the whole landing history first. -#}
{% macro postgres__in_changed_work_orders(column, changed, over_windows=true) -%}
    {{ column }} = any(array({{ changed }}))
{%- endmacro %}

{#- DuckDB does not push a semi-join below the staging views' window functions either: they numbered the
    whole landing history for one day's work orders (0.7 s of one more day's 1 s in fct_node_runs at a year
    of demo history; 59 s at 10M runs). A filter on the windows' partition column with a constant is pushed
    down to the scans, so the work orders are read first and written into the query as one JSON array: a list
    of separate constants cost DuckDB about 30 us each to plan (a day of 15,000 work orders: fct_node_runs
    11.4 s as constants, 5.7 s by the semi-join, 4.8 s as one array; BENCHMARKS.md). A range with more than one
    work order per 40 landed rows takes the semi-join: most of the history is read either way.
    COMMITMENTS_DBT_CHANGED_LIST_MAX sets another most (0: always the semi-join). The array is built in SQL
    as one string: agate would read an id such as 00123 back as a number. On a table the semi-join is a hash
    join over the window's rows, and looking the work orders up first would only cost a query more. -#}
{% macro duckdb__in_changed_work_orders(column, changed, over_windows=true) -%}
    {%- if not over_windows -%}
        {{ return(column ~ ' in (' ~ changed ~ ')') }}
    {%- endif -%}
    {%- set most = window_value('changed_list_max') -%}
    {%- if most is none -%}
        {%- set most = "greatest(1000, (select (select count(*) from " ~ source('landing', 'interval_runs')
            ~ ") + (select count(*) from " ~ source('landing', 'status_events') ~ ")) // 40)" -%}
    {%- else -%}
        {%- set most = most | int -%}
    {%- endif -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select count(*) as n, case when count(*) <= " ~ most ~ " then '[' || coalesce(string_agg("
            ~ "replace(to_json(work_order_id)::varchar, '''', ''''''), ',' order by work_order_id), '') || ']' "
            ~ "end as ids from (select distinct work_order_id from (" ~ changed ~ ") as changed "
            ~ "where work_order_id is not null) as ids"
        ) -%}
        {%- set ids = found.columns[1].values()[0] -%}
    {%- endif -%}
    {%- if not execute or ids is none -%}
        {{ column }} in ({{ changed }})
    {%- elif ids == '[]' -%}
        1 = 0
    {%- else -%}
        list_contains(from_json('{{ ids }}', '["VARCHAR"]'), {{ column }})
    {%- endif -%}
{%- endmacro %}
