-- Events are immutable; the same event landed twice (re-extraction, overlapping drops) counts once.
-- work_order_id is part of the partition so that a filter on work orders is pushed below the window.
with ranked as (
    select
        *,
        row_number() over (
            partition by source_system, work_order_id, source_row_key
            order by partition_date desc, extracted_at desc
        ) as version_rank
    from {{ source('landing', 'status_events') }}
)

select
    source_system,
    source_row_key,
    partition_date,
    event_seq,
    work_order_id,
    process_code,
    node_code,
    status_code,
    event_role,
    timestamp_marks,
    event_at,
    segment,
    department,
    position
from ranked
where version_rank = 1
