-- depends_on: {{ source('landing', 'status_events') }}
{#
  Where a status history becomes node runs (SEMANTICS.md "Node runs", status history).
  Entry-marked: an activity event opens a run that the next event of the work order ends (or, if that
  event is cancelling, cancels); terminal and cancelling events open none; the last run stays open.
  Completion-marked: each event after the first closes its own activity's run, begun at the previous
  event; a cancelling activity's run is cancelled at its timestamp.
  Then consecutive, contiguous runs with the same node and department collapse into one run.
  Pausing events are not events of the runs: a run goes on through a pause (which
  int_status_events__pauses takes off its run time), so a work order resuming the same step after
  waiting for the customer keeps one run.
#}
with events as (
    -- event_order: by instant, ties in delivery order; update snapshots' repeats already collapsed (staging).
    select
        *,
        event_order as event_number
    from {{ ref('stg_landing__status_events') }}
    where event_role <> 'pausing' {{ changed_work_orders_filter() }}
),

sequenced as (
    select
        *,
        lead(event_at) over history as next_event_at,
        lead(event_role) over history as next_event_role,
        lag(event_at) over history as previous_event_at
    from events
    window history as (partition by source_system, work_order_id order by event_number)
),

-- At most one run per event, so one pass over the history makes them all, in its order: entry-marked, an
-- activity event opens the run that the next event ends or cancels; completion-marked, an event after the
-- first (of a node) closes the run begun at the previous event, or cancels it when the event is cancelling.
single_runs as (
    select
        source_system,
        work_order_id,
        process_code,
        node_code,
        segment,
        department,
        position,
        timestamp_marks,
        event_number,
        case when timestamp_marks = 'entry' then event_at else previous_event_at end as start_at,
        case
            when timestamp_marks = 'entry' and next_event_role = 'cancelling' then null
            when timestamp_marks = 'entry' then next_event_at
            when event_role = 'cancelling' then null
            else event_at
        end as end_at,
        case
            when timestamp_marks = 'entry' and next_event_role = 'cancelling' then next_event_at
            when timestamp_marks = 'completion' and event_role = 'cancelling' then event_at
        end as cancelled_at
    from sequenced
    where
        (timestamp_marks = 'entry' and event_role = 'activity')
        or (timestamp_marks = 'completion' and previous_event_at is not null and node_code is not null)
),

-- A run continues the one before it when both are of the same node and department and it starts where
-- that one ended; it is the last of its collapsed run when the next one does not continue it. Every
-- window here has the same order, so the history is sorted once.
marked as (
    select
        *,
        case
            when
                lag(node_code) over run_order = node_code
                and coalesce(lag(department) over run_order, '') = coalesce(department, '')
                and lag(end_at) over run_order = start_at
                then 0
            else 1
        end as starts_new_run
    from single_runs
    window run_order as (partition by source_system, work_order_id order by event_number)
),

grouped as (
    select
        *,
        sum(starts_new_run) over (run_order rows unbounded preceding) as run_number,
        case when lead(starts_new_run) over run_order = 0 then 0 else 1 end as ends_run
    from marked
    window run_order as (partition by source_system, work_order_id order by event_number)
)

-- A collapsed run carries the segment/position of the event that yields it: the opening event when
-- entry-marked, the closing event when completion-marked.
select
    source_system,
    work_order_id,
    max(process_code) as process_code,
    max(node_code) as node_code,
    max(case when (timestamp_marks = 'entry' and starts_new_run = 1) or (timestamp_marks = 'completion' and ends_run = 1) then segment end)
        as segment,
    max(department) as department,
    max(case when (timestamp_marks = 'entry' and starts_new_run = 1) or (timestamp_marks = 'completion' and ends_run = 1) then position end)
        as position,
    min(start_at) as start_at,
    max(case when ends_run = 1 then end_at end) as end_at,
    max(case when ends_run = 1 then cancelled_at end) as cancelled_at
from grouped
group by source_system, work_order_id, run_number
