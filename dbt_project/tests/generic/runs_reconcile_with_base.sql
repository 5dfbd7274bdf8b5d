{#-
  Nothing lost between the base table and the marts: per period, the node runs in scope of the period
  in fct_node_runs (SEMANTICS.md "Periods", spelled out here rather than reused), the classified runs
  of the states mart and the runs counted by the rates mart (grouping level 'all') are the same number.

  In scope of a period: started before its as_of, and neither ended nor cancelled before its start.
  Counted per period: the runs started before its as_of, less the runs closed before its start (a run
  closes after it starts, and a period starts before its as_of, so each of those is among the first);
  how, per warehouse, in macros/tests/runs_counted_per_period.sql.
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

{{ runs_counted_per_period('periods', 'runs') }},

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
from counted_runs as base
left join classified on classified.period_id = base.period_id
left join counted on counted.period_id = base.period_id
where base.base_runs <> coalesce(classified.state_runs, 0)
    or base.base_runs <> coalesce(counted.rate_runs, 0)
{% endtest %}
