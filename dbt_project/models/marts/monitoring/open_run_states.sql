{#-
  The state of every node run open now (as_of_cap, the evaluation instant), for live monitoring
  (orchestration/monitoring). Same rules as the period marts, through the same macros: the commitment in
  force at the run's start, the status at as_of, the run time on the commitment's clock, the band.
  Rebuilt whole on every evaluation; it reads only open runs (open_until, indexed), so its cost follows
  the number of open runs, not the length of history.
-#}
{{ config(
    materialized='table',
    tags=['monitoring'],
    contract={'enforced': true}
) }}

with open_runs as (
    select
        r.node_run_id,
        r.work_order_id,
        r.process_code,
        r.node_code,
        r.visit,
        r.segment,
        r.department,
        r.position,
        r.source_system,
        r.start_at,
        r.end_at,
        r.cancelled_at,
        {{ as_of_cap() }} as as_of
    from {{ ref('fct_node_runs') }} as r
    where
        r.open_until >= {{ as_of_cap() }}
        and r.start_at < {{ as_of_cap() }}
),

judged as (
    select
        o.*,
        {{ commitment_columns() }},
        {{ run_status_at('o', 'o.as_of') }} as run_status
    from open_runs as o
    {{ join_commitment_in_force('o', 'o.node_code', 'o.segment', 'o.start_at') }}
),

{{ measured_on_clock('timed', 'judged', ['node_run_id'], 'as_of') }},

banded as (
    select
        *,
        {{ run_band('run_status', 'run_seconds', 'commitment_seconds', 'tolerance_seconds') }} as band
    from timed
)

select
    {{ typed('b.node_run_id', 'string') }} as node_run_id,
    {{ typed('b.work_order_id', 'string') }} as work_order_id,
    {{ typed('b.process_code', 'string') }} as process_code,
    {{ typed('p.process_name', 'string') }} as process_name,
    {{ typed('p.owner_department', 'string') }} as owner_department,
    {{ typed('b.node_code', 'string') }} as node_code,
    {{ typed('n.node_name', 'string') }} as node_name,
    {{ typed('b.visit', 'int') }} as visit,
    {{ typed('b.segment', 'string') }} as segment,
    -- Who holds the run now: the source's department (a hand-over moves it), else the node's owner.
    {{ typed('coalesce(b.department, n.department)', 'string') }} as department,
    {{ typed('coalesce(b.position, n.position)', 'string') }} as position,
    {{ typed('b.source_system', 'string') }} as source_system,
    {{ typed('b.start_at', 'timestamp') }} as start_at,
    {{ typed('b.as_of', 'timestamp') }} as as_of,
    {{ typed('b.run_status', 'string') }} as run_status,
    {{ typed('b.run_seconds', 'double') }} as run_seconds,
    {{ typed('b.commitment_version_id', 'string') }} as commitment_version_id,
    {{ typed('b.commitment_seconds', 'bigint') }} as commitment_seconds,
    {{ typed('b.tolerance_seconds', 'bigint') }} as tolerance_seconds,
    {{ typed('b.clock', 'string') }} as clock,
    {{ typed('b.band', 'string') }} as band
from banded as b
left join {{ ref('dim_processes') }} as p on b.process_code = p.process_code
left join {{ ref('dim_nodes') }} as n on b.process_code = n.process_code and b.node_code = n.node_code
