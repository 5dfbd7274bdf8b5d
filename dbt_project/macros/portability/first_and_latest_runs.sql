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

  PostgreSQL and the other adapters (default__work_order_status): the windows are over each work order's runs
  (not over its runs per period), and a period finds its first and latest run among the rows it aggregates by
  a test on the run alone, so that its aggregates stay plain maxima, hashed rather than sorted:
    first_and_latest_run_columns(r)   columns added to the select of runs `r`, from windows over one order
        (start_at, visit, node_code desc), one sort: in it the first run is the last of the first (start_at,
        visit), and the latest run of a start (highest visit, lowest node_code) is the last of that start
        first_start_at, first_visit      of the first row
        later_start_at, later_visit      of the next row: for the last run of a start, the next later start,
                                         or null for the last start
    is_first_run(r)              the run is the first
    is_latest_run_at(r, at)      the run is the latest of those started before `at`: the last of its start, and
                                 no later start before `at`
  The last version numbered every (period, work order, run) row twice, two sorts of 2.9M rows for the daily
  range at 1M node runs (43-54 s for work_order_status_daily on PostgreSQL); a `distinct on` rewrite measured
  slower there too (BENCHMARKS.md, 2026-12-01).
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

{% macro first_and_latest_run_columns(r) -%}
    {%- set in_order = 'partition by ' ~ r ~ '.work_order_id order by ' ~ r ~ '.start_at, ' ~ r ~ '.visit, '
        ~ r ~ '.node_code desc' -%}
            first_value({{ r }}.start_at) over ({{ in_order }}) as first_start_at,
            first_value({{ r }}.visit) over ({{ in_order }}) as first_visit,
            lead({{ r }}.start_at) over ({{ in_order }}) as later_start_at,
            lead({{ r }}.visit) over ({{ in_order }}) as later_visit
{%- endmacro %}

{% macro is_first_run(r) -%}
    {{ r }}.start_at = {{ r }}.first_start_at and {{ r }}.visit = {{ r }}.first_visit
    and ({{ r }}.later_start_at is null or {{ r }}.later_start_at > {{ r }}.start_at or {{ r }}.later_visit > {{ r }}.visit)
{%- endmacro %}

{% macro is_latest_run_at(r, at) -%}
    {{ r }}.start_at < {{ at }}
    and ({{ r }}.later_start_at is null or ({{ r }}.later_start_at > {{ r }}.start_at and {{ r }}.later_start_at >= {{ at }}))
{%- endmacro %}
