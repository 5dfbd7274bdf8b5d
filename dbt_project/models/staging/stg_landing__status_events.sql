-- Status events of every status-history source, each once, in the order of the work order's history
-- (SEMANTICS.md "Node runs", status history). work_order_id is part of every window's partition so that a
-- filter on work orders (incremental runs) is pushed below the windows.
--
-- Delivery order: the batch a row came in (partition_date, then extracted_at) and its position in it
-- (event_seq). Events of one work order at one instant keep it; event_order numbers the history by instant,
-- then delivery order, for the models that turn it into runs and pauses.
with deliveries as (
    -- An event is immutable: the same event landed twice (re-extraction, overlapping drops, a re-delivered
    -- audit row) counts once, as its latest delivery.
    select
        *,
        row_number() over (
            partition by source_system, work_order_id, source_row_key
            order by partition_date desc, extracted_at desc, event_seq desc
        ) as version_rank
    from {{ source('landing', 'status_events') }}
),

events as (
    select
        *,
        lag(status_code) over history as previous_status,
        lag(department) over history as previous_department
    from deliveries
    where version_rank = 1
    window history as (
        partition by source_system, work_order_id
        order by event_at, partition_date, extracted_at, event_seq
    )
),

-- An update-snapshot source writes a row per save: a save repeating the status of the save before is no
-- status change. Entry-marked, a save that changes the department keeps its place: it is a hand-over.
-- Completion-marked, the status names the last activity completed, so a repeat completes nothing, whatever
-- its department: the activity ended at its first save, and the time since belongs to the next activity.
status_changes as (
    select *
    from events
    where not (
        coalesce(update_snapshot, false)
        and previous_status is not null
        and status_code = previous_status
        and (timestamp_marks = 'completion' or coalesce(department, '') = coalesce(previous_department, ''))
    )
)

select
    source_system,
    source_row_key,
    partition_date,
    event_seq,
    row_number() over (
        partition by source_system, work_order_id
        order by event_at, partition_date, extracted_at, event_seq
    ) as event_order,
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
from status_changes
