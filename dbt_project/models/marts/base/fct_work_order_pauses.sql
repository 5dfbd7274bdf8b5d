{#-
  The pauses of each work order (clock stopped: waiting for the customer, for a vendor), from every
  status-history source, overlapping or touching pauses merged so no time is taken off twice.
  Updated like fct_node_runs: the work orders changed in the window are rebuilt whole.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='work_order_id',
    on_schema_change='fail',
    post_hook=["{{ index_on(this, ['work_order_id']) }}"]
) }}

{%- set far_future = "cast('9999-12-31' as " ~ dbt.type_timestamp() ~ ")" %}

with pauses as (
    select
        work_order_id,
        pause_start,
        coalesce(pause_end, {{ far_future }}) as pause_end
    from {{ ref('int_status_events__pauses') }}
),

reached as (
    select
        *,
        max(pause_end) over (
            partition by work_order_id order by pause_start, pause_end
            rows between unbounded preceding and 1 preceding
        ) as reached_before
    from pauses
),

islands as (
    select
        *,
        sum(case when reached_before >= pause_start then 0 else 1 end) over (
            partition by work_order_id order by pause_start, pause_end rows unbounded preceding
        ) as island
    from reached
),

merged as (
    select
        work_order_id,
        min(pause_start) as pause_start,
        max(pause_end) as pause_end
    from islands
    group by work_order_id, island
)

select
    {{ typed(dbt.hash(dbt.concat(["work_order_id", "'|'", dbt.cast("pause_start", dbt.type_string())])), 'string') }}
        as pause_id,
    {{ typed('work_order_id', 'string') }} as work_order_id,
    {{ typed('pause_start', 'timestamp') }} as pause_start,
    {{ typed("case when pause_end < " ~ far_future ~ " then pause_end end", 'timestamp') }} as pause_end
from merged
