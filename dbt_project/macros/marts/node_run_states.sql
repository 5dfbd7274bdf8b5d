{#-
  The body of node_run_states_daily, _weekly and _monthly: where the seven states are decided
  (SEMANTICS.md "State as of an instant T", "Periods"). One body for the three grains, because the grain
  only picks the periods: written out per model, this CTE chain would be three copies to keep in step.
-#}
{% macro node_run_states(grain) -%}
-- `as materialized` (DuckDB, PostgreSQL 12+): with the periods inlined, DuckDB plans the two-inequality
-- scope join below as an IE_JOIN, which grows faster than the data (BENCHMARKS.md finding 2: 114 s for
-- node_run_states_daily at 10M runs); over a materialised CTE it picks a piecewise merge join (10 s).
with periods as materialized (
    {{ evaluated_periods(grain) }}
),

-- In scope: open at some moment of the period (macros/periods/run_in_scope.sql).
in_scope as (
    select
        p.period_id, p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of,
        r.node_run_id, r.work_order_id, r.process_code, r.node_code, r.visit, r.segment,
        r.department, r.position, r.source_system, r.start_at, r.end_at, r.cancelled_at
    from periods as p
    inner join {{ ref('fct_node_runs') }} as r
        on {{ run_in_scope('r', 'p') }}
),

-- The commitment version in force at the run's start, for its segment, else for segment '*'.
judged as (
    select
        s.*,
        {{ commitment_columns() }},
        {{ run_status_at('s', 's.as_of') }} as run_status
    from in_scope as s
    {{ join_commitment_in_force('s', 's.node_code', 's.segment', 's.start_at') }}
),

-- Where the run time ends: its end when completed, as_of while in progress (none when cancelled).
bounded as (
    select
        *,
        case
            when run_status = 'completed' then end_at
            when run_status = 'in_progress' then as_of
        end as measured_until
    from judged
),

{{ measured_on_clock('timed', 'bounded', ['period_id', 'node_run_id'], 'measured_until') }},

banded as (
    select
        *,
        {{ run_band('run_status', 'run_seconds', 'commitment_seconds', 'tolerance_seconds') }} as band
    from timed
)

select
    {{ typed(dbt.concat(["period_id", "'|'", "node_run_id"]), 'string') }} as period_node_run_id,
    {{ typed_period_columns() }},
    {{ typed('node_run_id', 'string') }} as node_run_id,
    {{ typed('work_order_id', 'string') }} as work_order_id,
    {{ typed('process_code', 'string') }} as process_code,
    {{ typed('node_code', 'string') }} as node_code,
    {{ typed('visit', 'int') }} as visit,
    {{ typed('segment', 'string') }} as segment,
    {{ typed('department', 'string') }} as department,
    {{ typed('position', 'string') }} as position,
    {{ typed('source_system', 'string') }} as source_system,
    {{ typed('start_at', 'timestamp') }} as start_at,
    -- Only what was known at as_of: a closed period's rows never depend on when the pipeline ran.
    {{ typed('case when end_at < as_of then end_at end', 'timestamp') }} as end_at,
    {{ typed('case when cancelled_at < as_of then cancelled_at end', 'timestamp') }} as cancelled_at,
    {{ typed('run_status', 'string') }} as run_status,
    {{ typed('run_seconds', 'double') }} as run_seconds,
    {{ typed('wall_seconds', 'double') }} as wall_seconds,
    {{ typed('paused_seconds', 'double') }} as paused_seconds,
    {{ typed('commitment_version_id', 'string') }} as commitment_version_id,
    {{ typed('clock', 'string') }} as clock,
    {{ typed('calendar_version_id', 'string') }} as calendar_version_id,
    {{ typed('commitment_seconds', 'bigint') }} as commitment_seconds,
    {{ typed('tolerance_seconds', 'bigint') }} as tolerance_seconds,
    {{ typed('band', 'string') }} as band,
    -- A cancelled run is `cancelled` whether or not a commitment exists, so the states are disjoint.
    {{ typed("case
        when run_status = 'cancelled' then 'cancelled'
        when band is null then 'no_commitment'
        else " ~ dbt.concat(["run_status", "'_'", "band"]) ~ "
    end", 'string') }} as state
from banded
{%- endmacro %}
