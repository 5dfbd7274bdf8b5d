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
    post_hook=[
        "{{ index_on(this, ['work_order_id']) }}",
        "{{ index_on(this, ['open_until', 'start_at']) }}",
        "{{ drop_index_on(this, ['open_until']) }}",
    ]
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
    {{ typed(dbt.hash(dbt.concat(["work_order_id", "'|'", "node_code", "'|'", dbt.cast("visit", dbt.type_string())])), 'string') }}
        as node_run_id,
    {{ typed('work_order_id', 'string') }} as work_order_id,
    {{ typed('process_code', 'string') }} as process_code,
    {{ typed('node_code', 'string') }} as node_code,
    {{ typed('visit', 'int') }} as visit,
    {{ typed('segment', 'string') }} as segment,
    {{ typed('department', 'string') }} as department,
    {{ typed('position', 'string') }} as position,
    {{ typed('start_at', 'timestamp') }} as start_at,
    {{ typed('end_at', 'timestamp') }} as end_at,
    {{ typed('cancelled_at', 'timestamp') }} as cancelled_at,
    {{ typed('source_system', 'string') }} as source_system,
    -- When the run stopped being open (end or cancellation, far future while open): the period models
    -- find a period's runs by `open_until >= period_start and start_at < as_of`, an index range on
    -- PostgreSQL, so a day's cost follows the runs open around it, not the length of history. start_at is
    -- in the index so that the runs starting after the period are not fetched to be dropped: at 1M runs,
    -- an early day's 26k runs instead of 547k (node_run_states_daily's scope join 4.7 -> 1.1 s).
    {{ typed("case
        when end_at is null and cancelled_at is null then cast('9999-12-31' as " ~ dbt.type_timestamp() ~ ")
        when cancelled_at is null or end_at <= cancelled_at then end_at
        else cancelled_at
    end", 'timestamp') }} as open_until
from numbered
