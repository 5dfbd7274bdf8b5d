{#-
  A work order's first and latest run among its runs at a period's as_of (macros/marts/work_order_status.sql):
    first run    earliest start_at, then lowest visit, then node_code
    latest run   latest start_at, then highest visit, then lowest node_code
  ((work_order_id, node_code, visit) is unique, so each names one run.) Two ways, one per body of
  work_order_status:

  DuckDB (duckdb__work_order_status): each run numbered once. The runs at as_of are those with
  start_at < as_of, a prefix of the work order's runs in start order that never splits runs with the same
  start. So the first run is the work order's first run overall, whatever the period (every period in scope
  has it, as it has some run), and the latest run is the first, in node_code order, of the last
  (start_at, visit) group of the prefix: its run_seq is the largest start_rank among the runs at as_of.
  run_numbers(r) adds to the select of runs `r`, from windows over one partition whose orders share a
  prefix (one sort on DuckDB):
    run_seq          1, 2, ... by start_at, visit, node_code
    start_rank       rank() by start_at, visit: the run_seq of the first run with its start and visit
    process_so_far   max(process_code) over the runs up to this one's start and visit, these included
    first_segment    segment of the work order's first run
    first_start_at   start of the work order's first run
  This replaced arg_min_null aggregates over structs, four per (period, work order) group, and a
  count(distinct) beside them: 14 s of CPU for the daily range at 1M node runs, now 7 s (BENCHMARKS.md
  finding 8).

  PostgreSQL (default__work_order_status): two row_number() windows over the (period, work order, run)
  rows, read by aggregates over the rows of one period and work order:
    run_order_columns()      columns the aggregates need, added to the runs' select
    first_run_value(col)     col of the first run
    latest_run_value(col)    col of the latest run
  A `distinct on` rewrite gave the same rows but measured slower there (BENCHMARKS.md, 2026-12-01), and so
  did the numbering above (macros/marts/work_order_status.sql).
-#}
{% macro run_numbers(r) -%}
    {%- set by_start = 'partition by ' ~ r ~ '.work_order_id order by ' ~ r ~ '.start_at, ' ~ r ~ '.visit' -%}
    {%- set by_run = by_start ~ ', ' ~ r ~ '.node_code' -%}
            row_number() over ({{ by_run }}) as run_seq,
            rank() over ({{ by_start }}) as start_rank,
            max({{ r }}.process_code) over (
                {{ by_start }} range between unbounded preceding and current row
            ) as process_so_far,
            first_value({{ r }}.segment) over ({{ by_run }}) as first_segment,
            first_value({{ r }}.start_at) over ({{ by_run }}) as first_start_at
{%- endmacro %}

{% macro run_order_columns() -%}
        ,
        row_number() over (partition by p.period_id, r.work_order_id order by r.start_at desc, r.visit desc, r.node_code) as recency,
        row_number() over (partition by p.period_id, r.work_order_id order by r.start_at, r.visit, r.node_code) as seniority
{%- endmacro %}

{% macro first_run_value(column) -%}
    max(case when seniority = 1 then {{ column }} end)
{%- endmacro %}

{% macro latest_run_value(column) -%}
    max(case when recency = 1 then {{ column }} end)
{%- endmacro %}
