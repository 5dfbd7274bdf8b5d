-- depends_on: {{ source('landing', 'status_events') }}
{#
  Where a status history's pauses come from: the time a work order spent in a pausing status
  (waiting for the customer, for a vendor). Entry-marked: from the pausing event to the next event of
  the work order (open while none follows). Completion-marked: the pausing activity took the time
  since the previous event.
#}
with events as (
    select
        *,
        lead(event_at) over history as next_event_at,
        lag(event_at) over history as previous_event_at
    from {{ ref('stg_landing__status_events') }}
    where {{ pausing_sources_filter() }} {{ changed_work_orders_filter() }}
    window history as (partition by source_system, work_order_id order by event_order)
)

select
    source_system,
    work_order_id,
    status_code as pause_status,
    case when timestamp_marks = 'entry' then event_at else previous_event_at end as pause_start,
    case when timestamp_marks = 'entry' then next_event_at else event_at end as pause_end
from events
where event_role = 'pausing' and (timestamp_marks = 'entry' or previous_event_at is not null)
