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
        ) as visit,
        -- A node is completed at T when one of its runs is (SEMANTICS.md "State as of an instant T"). A run
        -- with an end and no cancellation is completed from max(start, end) on, for good; one both ended and
        -- cancelled only until its cancellation, so such a node has no single instant it is completed from.
        max(case when end_at is not null and cancelled_at is not null then 1 else 0 end) over (
            partition by work_order_id, node_code
        ) as node_revocable,
        min(case when end_at < start_at then start_at else end_at end) over (
            partition by work_order_id, node_code
        ) as node_first_completion
    from runs
),

-- The order of the work order's runs that work_order_status reads its first and latest run by
-- (SEMANTICS.md "Work-order status table"): start_at, then visit, then node_code.
ordered as (
    select
        *,
        row_number() over (partition by work_order_id order by start_at, visit, node_code) as run_seq,
        rank() over (partition by work_order_id order by start_at, visit) as start_rank,
        -- The start of the next (start_at, visit) group: until then the first run of this group, in
        -- node_code order, is the work order's latest run.
        min(start_at) over (
            partition by work_order_id order by start_at, visit
            range between current row and unbounded following exclude group
        ) as next_start_at
    from numbered
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
    end", 'timestamp') }} as open_until,
    -- work_order_status per period without a window over each period's runs: at an instant T the runs
    -- that exist are those with start_at < T, a prefix of run_seq's order that never splits a start.
    {{ typed('run_seq', 'int') }} as run_seq,
    {{ typed("case
        when run_seq <> start_rank then start_at
        else coalesce(next_start_at, cast('9999-12-31' as " ~ dbt.type_timestamp() ~ "))
    end", 'timestamp') }} as latest_until,
    {{ typed('case when visit = 1 and node_revocable = 0 then node_first_completion end', 'timestamp') }}
        as node_completed_from,
    {{ typed('node_revocable = 1', 'boolean') }} as node_completion_revocable
from ordered
