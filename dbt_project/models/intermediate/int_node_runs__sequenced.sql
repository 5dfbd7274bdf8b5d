{#-
  Each node run with what work_order_status_* read of its place among its work order's runs: the first run,
  the next start (macros/judging/first_and_latest_runs.sql), and the islands its node's completed
  intervals make (macros/judging/nodes_completed_at.sql). They depend on the work order's runs alone, not on
  a period, so they are computed here, once, whenever fct_node_runs rebuilds the work order; each grain's
  work_order_status reads them instead of sorting every run of its work orders again (PostgreSQL: 5.7 s of
  work_order_status_daily's 16.9 s at 1M node runs). Built with the base table, it runs beside
  node_run_states_daily on dbt's second thread. A table in the staging schema: plumbing, not a mart.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='work_order_id',
    on_schema_change='fail',
    schema='staging',
    tags=['base'],
    post_hook=[
        "{{ analyze_for_planner(this) }}",
        "{{ index_on(this, ['work_order_id']) }}",
        "{{ index_on(this, ['work_order_open_until', 'start_at']) }}",
    ]
) }}

select
    r.*,
    {{ node_completion_islands('r') }}
from (
    select
        r.node_run_id, r.work_order_id, r.process_code, r.node_code, r.visit, r.segment, r.department,
        r.start_at, r.end_at, r.cancelled_at, r.open_until,
        -- The work order is open until its last run closes: a period finds its work orders' runs by
        -- `work_order_open_until >= period_start and start_at < as_of` (macros/marts/work_order_status.sql).
        max(r.open_until) over (partition by r.work_order_id) as work_order_open_until,
        {{ first_and_latest_run_columns('r') }},
        {{ completion_interval('r') }}
    from {{ ref('fct_node_runs') }} as r
    {#- Rebuilt as the base table is: its changed work orders whole; everything when it was rebuilt whole. #}
    {%- if is_incremental() and base_table_is_incremental() %}
    where {{ in_changed_work_orders('r.work_order_id', changed_work_orders_sql(), over_windows=false) }}
    {%- endif %}
) as r
