{#-
  The live view for BI tools and the dashboard: every node run open at the last evaluation
  (open_run_states, rebuilt every 15 minutes by the monitoring job, which rebuilds this view with it:
  tag monitoring), with the SLA basics: time left, % of the limit elapsed and when the limit is breached.
-#}
{{ config(tags=['monitoring']) }}

{%- if relations_exist([ref('open_run_states'), ref('fct_work_order_pauses'), ref('dim_periods')]) %}
with open_runs as (
    select
        o.*,
        o.commitment_seconds - o.run_seconds as seconds_left,
        -- The breach instant is known only where the clock runs on from now at one second per second: the
        -- wall clock, outside a pause of the work order. A business clock stops outside working hours, a
        -- pause stops any clock, so there it is null (seconds_left still says how much is left).
        case
            when
                o.clock = 'wall'
                and o.commitment_seconds is not null
                and not exists (
                    select 1 from {{ ref('fct_work_order_pauses') }} as w
                    where
                        w.work_order_id = o.work_order_id
                        and w.pause_start <= o.as_of
                        and (w.pause_end is null or w.pause_end > o.as_of)
                )
                then cast(round(o.commitment_seconds - o.run_seconds) as {{ dbt.type_bigint() }})
        end as seconds_to_breach
    from {{ ref('open_run_states') }} as o
)

select
    {{ typed('r.node_run_id', 'string') }} as node_run_id,
    {{ typed('r.work_order_id', 'string') }} as work_order_id,
    {{ typed('r.process_code', 'string') }} as process_code,
    {{ typed('r.process_name', 'string') }} as process_name_zh,
    {{ typed('r.node_code', 'string') }} as node_code,
    {{ typed('r.node_name', 'string') }} as node_name_zh,
    {{ typed('r.visit', 'int') }} as visit,
    {{ typed('r.segment', 'string') }} as segment,
    {{ typed('r.department', 'string') }} as department,
    {{ typed('r.position', 'string') }} as position,
    {{ typed('r.owner_department', 'string') }} as owner_department,
    {{ typed('r.start_at', 'timestamp') }} as start_at_utc,
    {{ business_local_time('r.start_at') }} as start_at_local,
    {{ typed('r.as_of', 'timestamp') }} as as_of_utc,
    {{ business_local_time('r.as_of') }} as as_of_local,
    {{ typed('r.run_seconds', 'double') }} as run_seconds,
    {{ typed('r.commitment_version_id', 'string') }} as commitment_version_id,
    {{ typed('r.commitment_seconds', 'bigint') }} as commitment_seconds,
    {{ typed('r.tolerance_seconds', 'bigint') }} as tolerance_seconds,
    {{ typed('r.clock', 'string') }} as clock,
    {{ typed('r.seconds_left', 'double') }} as seconds_left,
    {{ typed('r.tolerance_seconds - r.run_seconds', 'double') }} as seconds_left_to_tolerance,
    {{ typed('case when r.commitment_seconds > 0 then r.run_seconds / r.commitment_seconds end', 'double') }}
        as pct_of_limit_elapsed,
    {{ typed(dbt.dateadd('second', 'r.seconds_to_breach', 'r.as_of'), 'timestamp') }} as breach_at_utc,
    {{ business_local_time(dbt.dateadd('second', 'r.seconds_to_breach', 'r.as_of')) }} as breach_at_local,
    {{ typed('r.band', 'string') }} as band
from open_runs as r
{{ business_zone_join() }}
{%- else %}
    {{ empty_as_contract() }}
{%- endif %}
