-- A source row can be landed more than once (e.g. open in one day's drop, closed in a later one):
-- the version from the latest partition wins, then the latest extraction. work_order_id is part of the
-- partition so that a filter on work orders (incremental runs) is pushed below the window.
with ranked as (
    select
        *,
        row_number() over (
            partition by source_system, work_order_id, source_row_key
            order by partition_date desc, extracted_at desc
        ) as version_rank
    from {{ source('landing', 'interval_runs') }}
)

select
    source_system,
    source_row_key,
    partition_date,
    work_order_id,
    process_code,
    node_code,
    segment,
    department,
    position,
    start_at,
    end_at,
    cancelled_at
from ranked
where version_rank = 1
