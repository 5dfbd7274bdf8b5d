{#-
  A work order's first and latest run among its runs at a period's as_of (macros/marts/work_order_status.sql):
    first run    earliest start_at, then lowest visit, then node_code
    latest run   latest start_at, then highest visit, then lowest node_code
  ((work_order_id, node_code, visit) is unique, so each names one run.) The windows are over each work order's
  runs, not over its runs per period: int_node_runs__sequenced computes them once per work order, and a period
  finds its first and latest run among the rows it aggregates by a test on the run alone, so that its
  aggregates stay plain maxima, hashed rather than sorted:
    first_and_latest_run_columns(r)   columns added to the select of runs `r`, from windows over one order
        (start_at, visit, node_code desc), one sort: in it the first run is the last of the first (start_at,
        visit), and the latest run of a start (highest visit, lowest node_code) is the last of that start
        first_start_at, first_visit      of the first row
        later_start_at, later_visit      of the next row: for the last run of a start, the next later start,
                                         or null for the last start
    is_first_run(r)              the run is the first
    is_latest_run_at(r, at)      the run is the latest of those started before `at`: the last of its start, and
                                 no later start before `at`
  An earlier version numbered every (period, work order, run) row twice, two sorts of 2.9M rows for the daily
  range at 1M node runs (43-54 s for work_order_status_daily on PostgreSQL); a `distinct on` rewrite measured
  slower there too (BENCHMARKS.md, 2026-12-01).
-#}
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
