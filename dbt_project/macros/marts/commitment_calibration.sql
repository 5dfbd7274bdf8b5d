{#-
  The body of commitment_calibration_daily, _weekly and _monthly (docs/CALIBRATION.md), from the node run
  states of the same grain (`run_states`, whose run_seconds are already measured on each commitment's
  clock) and the achievement rates of the same grain (`rates`). One row per period, process, node and
  segment with a judged run.
-#}
{% macro commitment_calibration(grain, run_states, rates) -%}
with periods as (
    {{ evaluated_periods(grain) }}
),

-- Judged runs (a commitment in force, not cancelled), keyed like the rates' process_node_segment rows.
-- Their group (period, process, node, segment) is grouped, joined and sorted by as one text, the mart's key:
-- a sort by the four columns compares all four for every pair of runs of one group (PostgreSQL at 1M node
-- runs: 1.9 s to rank a month's runs, 0.8 s by the one key).
judged as (
    select
        {{ dbt.concat(["period_id", "'|'", "process_code", "'|'", "node_code", "'|'", "coalesce(segment, '(none)')"]) }}
            as calibration_id,
        period_id,
        process_code,
        node_code,
        coalesce(segment, '(none)') as segment,
        node_run_id,
        start_at,
        run_status,
        run_seconds,
        commitment_version_id,
        commitment_seconds,
        tolerance_seconds,
        clock,
        calendar_version_id
    from {{ run_states }}
    where period_id in (select period_id from periods)
        and band is not null
),

-- How many commitment versions judged each group's runs, counted from the distinct pairs: PostgreSQL
-- sorts the runs for a count(distinct), where these two hash aggregates read them once.
group_versions as (
    select distinct calibration_id, commitment_version_id
    from judged
),

versions as (
    select calibration_id, count(commitment_version_id) as commitment_versions
    from group_versions
    group by calibration_id
),

-- The version of the latest-started judged run: the limit in force when the period's last run began
-- (ties at that instant: the greatest node_run_id).
latest_start as (
    select calibration_id, max(start_at) as latest_start_at
    from judged
    group by calibration_id
),

latest as (
    select
        j.*,
        row_number() over (partition by j.calibration_id order by j.node_run_id desc) as recency
    from judged as j
    inner join latest_start as ls
        on ls.calibration_id = j.calibration_id
        and ls.latest_start_at = j.start_at
),

-- Completed runs ranked by run time: the k-th smallest of n is the nearest-rank percentile k/n. Only the
-- columns the distribution needs go through the sort.
completed as (
    select
        j.calibration_id,
        j.run_seconds,
        pr.calibration_normal_target as normal_target,
        pr.calibration_tolerance_target as tolerance_target,
        row_number() over (partition by j.calibration_id order by j.run_seconds) as run_rank,
        count(*) over (partition by j.calibration_id) as completed_runs
    from judged as j
    inner join {{ ref('dim_processes') }} as pr on pr.process_code = j.process_code
    where j.run_status = 'completed'
),

-- Nearest rank (docs/CALIBRATION.md): the smallest run time x with share(run_seconds <= x) >= p, i.e.
-- the value of rank ceil(p * n). Compared in basis points so that no float product rounds a rank away.
distribution as (
    select
        calibration_id,
        max(completed_runs) as completed_runs,
        {%- for p in [50, 80, 90, 95] %}
        min(case when run_rank * 100 >= {{ p }} * completed_runs then run_seconds end) as p{{ p }}_seconds,
        {%- endfor %}
        max(run_seconds) as max_seconds,
        min(case when run_rank * 10000 >= round(normal_target * 10000) * completed_runs
            then run_seconds end) as normal_quantile_seconds,
        min(case when run_rank * 10000 >= round(tolerance_target * 10000) * completed_runs
            then run_seconds end) as tolerance_quantile_seconds
    from completed
    group by calibration_id
),

calibrated as (
    select
        l.calibration_id,
        p.period_id, p.period_grain, p.period_start_date, p.period_start, p.period_end, p.as_of,
        l.process_code,
        l.node_code,
        l.segment,
        l.commitment_version_id,
        v.commitment_versions,
        l.commitment_seconds,
        l.tolerance_seconds,
        l.clock,
        coalesce(cal.nominal_day_seconds, 86400) as clock_day_seconds,
        pr.calibration_normal_target as normal_target,
        pr.calibration_tolerance_target as tolerance_target,
        pr.calibration_min_runs as min_runs,
        coalesce(d.completed_runs, 0) as completed_runs,
        d.p50_seconds, d.p80_seconds, d.p90_seconds, d.p95_seconds, d.max_seconds,
        d.normal_quantile_seconds,
        d.tolerance_quantile_seconds,
        r.achievement_rate,
        r.raise_commitment,
        r.improve_process
    from latest as l
    inner join periods as p on p.period_id = l.period_id
    inner join {{ ref('dim_processes') }} as pr on pr.process_code = l.process_code
    inner join versions as v on v.calibration_id = l.calibration_id
    left join {{ ref('dim_calendar_versions') }} as cal on cal.calendar_version_id = l.calendar_version_id
    left join distribution as d on d.calibration_id = l.calibration_id
    left join {{ rates }} as r
        on r.period_id = l.period_id
        and r.grouping_level = 'process_node_segment'
        and r.process_code = l.process_code
        and r.node_code = l.node_code
        and r.segment = l.segment
    where l.recency = 1
),

proposed as (
    select
        *,
        case when completed_runs >= min_runs
            then {{ round_up_to_limit('normal_quantile_seconds', 'clock_day_seconds') }}
        end as proposed_commitment_seconds,
        -- A tolerance is never below its commitment (SEMANTICS.md "Commitments").
        case when completed_runs >= min_runs
            then greatest(
                {{ round_up_to_limit('tolerance_quantile_seconds', 'clock_day_seconds') }},
                {{ round_up_to_limit('normal_quantile_seconds', 'clock_day_seconds') }}
            )
        end as proposed_tolerance_seconds
    from calibrated
)

select
    {{ typed('calibration_id', 'string') }} as calibration_id,
    {{ typed_period_columns() }},
    {{ typed('process_code', 'string') }} as process_code,
    {{ typed('node_code', 'string') }} as node_code,
    {{ typed('segment', 'string') }} as segment,
    {{ typed('commitment_version_id', 'string') }} as commitment_version_id,
    {{ typed('commitment_versions', 'bigint') }} as commitment_versions,
    {{ typed('clock', 'string') }} as clock,
    {{ typed('clock_day_seconds', 'bigint') }} as clock_day_seconds,
    {{ typed('commitment_seconds', 'bigint') }} as commitment_seconds,
    {{ typed('tolerance_seconds', 'bigint') }} as tolerance_seconds,
    {{ typed('completed_runs', 'bigint') }} as completed_runs,
    {{ typed('p50_seconds', 'double') }} as p50_seconds,
    {{ typed('p80_seconds', 'double') }} as p80_seconds,
    {{ typed('p90_seconds', 'double') }} as p90_seconds,
    {{ typed('p95_seconds', 'double') }} as p95_seconds,
    {{ typed('max_seconds', 'double') }} as max_seconds,
    {{ typed('achievement_rate', 'double') }} as achievement_rate,
    {{ typed("case when raise_commitment then 'raise_commitment' when improve_process then 'improve_process' end", 'string') }} as flag,
    {{ typed('normal_target', 'double') }} as normal_target,
    {{ typed('tolerance_target', 'double') }} as tolerance_target,
    {{ typed('min_runs', 'bigint') }} as min_runs,
    {{ typed('proposed_commitment_seconds', 'bigint') }} as proposed_commitment_seconds,
    {{ typed('proposed_tolerance_seconds', 'bigint') }} as proposed_tolerance_seconds,
    {{ typed("case
        when proposed_commitment_seconds is null then null
        when proposed_commitment_seconds < commitment_seconds then 'tighter'
        when proposed_commitment_seconds > commitment_seconds then 'looser'
        else 'same'
    end", 'string') }} as direction,
    {{ typed("case
        when proposed_tolerance_seconds is null then null
        when proposed_tolerance_seconds < tolerance_seconds then 'tighter'
        when proposed_tolerance_seconds > tolerance_seconds then 'looser'
        else 'same'
    end", 'string') }} as tolerance_direction,
    {{ typed("case when completed_runs < min_runs then " ~ dbt.concat([
        "'too few completed runs: '", typed('completed_runs', 'string'), "' < '", typed('min_runs', 'string')
    ]) ~ " end", 'string') }} as proposal_reason
from proposed
{%- endmacro %}


{#-
  The smallest round limit >= `seconds` (docs/CALIBRATION.md "Rounding"): whole minutes up to an hour,
  quarter hours up to one day of the clock, half days of the clock above; never below one minute. A day is
  `day_seconds`: 24 h on the wall clock, the calendar's nominal working day on a business clock, as `1d`
  means in commitments.yaml, so every proposal can be written back there as it is.
-#}
{% macro round_up_to_limit(seconds, day_seconds) -%}
    case
            when {{ seconds }} is null then null
            when {{ seconds }} <= 3600 then greatest(60, ceil({{ seconds }} / 60) * 60)
            when ceil({{ seconds }} / 900) * 900 <= {{ day_seconds }} then ceil({{ seconds }} / 900) * 900
            else ceil({{ seconds }} / ({{ day_seconds }} / 2.0)) * ({{ day_seconds }} / 2.0)
        end
{%- endmacro %}
