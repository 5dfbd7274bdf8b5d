{#-
  Nothing lost between the base table and the marts: per period, the node runs in scope of the period
  in fct_node_runs (SEMANTICS.md "Periods", spelled out here rather than reused), the classified runs
  of the states mart and the runs counted by the rates mart (grouping level 'all') are the same number.

  In scope of a period: started before its as_of, and neither ended nor cancelled before its start. The
  runs are counted by one sweep over the runs' starts and closes, not by a join of each period with the
  runs open after its start: on PostgreSQL that join read every later run once per period (29M rows for
  60 days of a million runs, 22 s). Counted per period: the runs started before its as_of, less the runs
  closed before its start (a run closes after it starts, and a period starts before its as_of, so each
  of those is among the first).
-#}
{% test runs_reconcile_with_base(model, states) %}
{#- Not ref(): a ref would select this test into every run that builds the base table (dbt's eager
    indirect selection), also where the mart it tests is not built. -#}
{%- set base_table = api.Relation.create(database=states.database, schema=states.schema, identifier='fct_node_runs') %}
with periods as (
    select distinct period_id, period_start, as_of from {{ model }}
),

runs as (
    select
        start_at,
        case
            when end_at is null then cancelled_at
            when cancelled_at is null or end_at <= cancelled_at then end_at
            else cancelled_at
        end as closed_at
    from {{ base_table }}
    -- open_until (indexed) only prunes: a run closed before the first period counts in none.
    where open_until >= (select min(period_start) from periods)
),

-- Ordered by time, a period's marks before the runs' starts and closes at the same instant: the sums at
-- a mark count what happened strictly before it.
timeline as (
    select start_at as moment, 1 as kind, 1 as started, 0 as closed, null as period_id, 0 as is_start
    from runs
    union all
    select closed_at, 1, 0, 1, null, 0 from runs where closed_at is not null
    union all
    select as_of, 0, 0, 0, period_id, 0 from periods
    union all
    select period_start, 0, 0, 0, period_id, 1 from periods
),

swept as (
    select
        period_id,
        is_start,
        sum(started) over (order by moment, kind rows between unbounded preceding and current row) as started_before,
        sum(closed) over (order by moment, kind rows between unbounded preceding and current row) as closed_before
    from timeline
),

base as (
    select
        period_id,
        max(case when is_start = 0 then started_before end)
        - max(case when is_start = 1 then closed_before end) as base_runs
    from swept
    where period_id is not null
    group by period_id
),

classified as (
    select period_id, count(*) as state_runs
    from {{ states }}
    where period_id in (select period_id from periods)
    group by period_id
),

counted as (
    select period_id, sum(total_runs) as rate_runs
    from {{ model }}
    where grouping_level = 'all'
    group by period_id
)

select base.period_id, base.base_runs, classified.state_runs, counted.rate_runs
from base
left join classified on classified.period_id = base.period_id
left join counted on counted.period_id = base.period_id
where base.base_runs <> coalesce(classified.state_runs, 0)
    or base.base_runs <> coalesce(counted.rate_runs, 0)
{% endtest %}
