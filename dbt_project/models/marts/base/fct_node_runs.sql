{#-
  服务流程运行基础数据表, the base data table: one row per node run from every source system, stitched
  by work-order key. Incremental per partition window: the work orders that changed in the window are
  rebuilt whole (delete + insert by work_order_id), so visits and collapsed runs stay right.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='work_order_id',
    on_schema_change='fail',
    post_hook=["{{ index_on(this, ['work_order_id']) }}", "{{ index_on(this, ['start_at']) }}"]
) }}

with runs as (
    select * from {{ ref('int_interval_runs__changed') }}
    union all
    select * from {{ ref('int_status_events__runs') }}
),

numbered as (
    select
        *,
        row_number() over (
            partition by work_order_id, node_code
            order by start_at, source_system, end_at, department
        ) as visit
    from runs
)

select
    {{ dbt.hash(dbt.concat(["work_order_id", "'|'", "node_code", "'|'", dbt.cast("visit", dbt.type_string())])) }} as node_run_id,
    cast(work_order_id as {{ dbt.type_string() }}) as work_order_id,
    cast(process_code as {{ dbt.type_string() }}) as process_code,
    cast(node_code as {{ dbt.type_string() }}) as node_code,
    cast(visit as {{ dbt.type_int() }}) as visit,
    cast(segment as {{ dbt.type_string() }}) as segment,
    cast(department as {{ dbt.type_string() }}) as department,
    cast(position as {{ dbt.type_string() }}) as position,
    cast(start_at as {{ dbt.type_timestamp() }}) as start_at,
    cast(end_at as {{ dbt.type_timestamp() }}) as end_at,
    cast(cancelled_at as {{ dbt.type_timestamp() }}) as cancelled_at,
    cast(source_system as {{ dbt.type_string() }}) as source_system
from numbered
