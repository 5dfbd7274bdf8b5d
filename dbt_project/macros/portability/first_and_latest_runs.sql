{#-
  One row per (period_id, work_order_id) of `runs` (the runs of a work order that exist at the period's
  as_of, with their run_status then): `segment` of its first run, and `current_node_code`,
  `current_department`, `latest_run_status` of its latest run. First: the earliest start_at, then the
  lowest visit, then node_code; latest: the latest start_at, then the highest visit, then the lowest
  node_code ((work_order_id, node_code, visit) is unique, so both are one run). A window sort per period
  and work order was the dearest step of the period marts (BENCHMARKS.md finding 8): DuckDB picks the
  two runs with arg_min_null (a null segment or department is a value, not skipped) in one hash aggregate, PostgreSQL with one `distinct on` sort.
-#}
{% macro first_and_latest_runs(runs) -%}
    {{ return(adapter.dispatch('first_and_latest_runs', 'service_commitments')(runs)) }}
{%- endmacro %}

{% macro duckdb__first_and_latest_runs(runs) -%}
    select
        period_id,
        work_order_id,
        arg_min_null(segment, {{ _run_order(+1) }}) as segment,
        arg_min_null(node_code, {{ _run_order(-1) }}) as current_node_code,
        arg_min_null(department, {{ _run_order(-1) }}) as current_department,
        arg_min_null(run_status, {{ _run_order(-1) }}) as latest_run_status
    from {{ runs }}
    group by period_id, work_order_id
{%- endmacro %}

{#- The sort key of a run, ascending for the first run (+1), or latest first (-1), node_code ascending in both. -#}
{% macro _run_order(direction) -%}
    {%- set sign = '' if direction > 0 else '-' -%}
    struct_pack(t := {{ sign }}epoch_us(start_at), v := {{ sign }}visit, n := node_code)
{%- endmacro %}

{#- The first run is the same in every period (it started before any in-scope run of the work order), so
    it is sorted once per work order from the base table, not once per period. -#}
{% macro default__first_and_latest_runs(runs) -%}
    select l.period_id, l.work_order_id, f.segment, l.current_node_code, l.current_department, l.latest_run_status
    from (
        select distinct on (period_id, work_order_id)
            period_id, work_order_id,
            node_code as current_node_code, department as current_department, run_status as latest_run_status
        from {{ runs }}
        order by period_id, work_order_id, start_at desc, visit desc, node_code
    ) as l
    inner join (
        select distinct on (r.work_order_id) r.work_order_id, r.segment
        from {{ ref('fct_node_runs') }} as r
        where r.work_order_id in (select work_order_id from {{ runs }})
        order by r.work_order_id, r.start_at, r.visit, r.node_code
    ) as f on f.work_order_id = l.work_order_id
{%- endmacro %}
