{#-
  A work order's first and latest run among its runs at a period's as_of (macros/marts/work_order_status.sql),
  as aggregates over the rows of one period and work order:
    run_order_columns()      columns the aggregates need, added to the runs' select
    first_run_value(col)     col of the first run: earliest start_at, then lowest visit, then node_code
    latest_run_value(col)    col of the latest run: latest start_at, then highest visit, then lowest node_code
  ((work_order_id, node_code, visit) is unique, so each names one run.) Two row_number() windows were the
  dearest step of the period marts on DuckDB (BENCHMARKS.md finding 8): DuckDB picks both runs in the
  hash aggregate with arg_min_null (arg_min would skip a null segment or department). PostgreSQL keeps the
  windows: a `distinct on` rewrite gave the same rows but measured slower there (BENCHMARKS.md, 2026-12-01).
-#}
{% macro run_order_columns() -%}
    {{ return(adapter.dispatch('run_order_columns', 'service_commitments')()) }}
{%- endmacro %}

{% macro default__run_order_columns() -%}
        ,
        row_number() over (partition by p.period_id, r.work_order_id order by r.start_at desc, r.visit desc, r.node_code) as recency,
        row_number() over (partition by p.period_id, r.work_order_id order by r.start_at, r.visit, r.node_code) as seniority
{%- endmacro %}

{% macro duckdb__run_order_columns() -%}
{%- endmacro %}

{% macro first_run_value(column) -%}
    {{ return(adapter.dispatch('first_run_value', 'service_commitments')(column)) }}
{%- endmacro %}

{% macro default__first_run_value(column) -%}
    max(case when seniority = 1 then {{ column }} end)
{%- endmacro %}

{% macro duckdb__first_run_value(column) -%}
    arg_min_null({{ column }}, struct_pack(t := epoch_us(start_at), v := visit, n := node_code))
{%- endmacro %}

{% macro latest_run_value(column) -%}
    {{ return(adapter.dispatch('latest_run_value', 'service_commitments')(column)) }}
{%- endmacro %}

{% macro default__latest_run_value(column) -%}
    max(case when recency = 1 then {{ column }} end)
{%- endmacro %}

{% macro duckdb__latest_run_value(column) -%}
    arg_min_null({{ column }}, struct_pack(t := -epoch_us(start_at), v := -visit, n := node_code))
{%- endmacro %}
