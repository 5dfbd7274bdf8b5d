{#-
  Nothing lost between the base table and the marts: per period, the node runs in scope of the period
  in fct_node_runs (SEMANTICS.md "Periods", spelled out here rather than reused), the classified runs
  of the states mart and the runs counted by the rates mart (grouping level 'all') are the same number.
-#}
{% test runs_reconcile_with_base(model, states) %}
{#- Not ref(): a ref would select this test into every run that builds the base table (dbt's eager
    indirect selection), also where the mart it tests is not built. -#}
{%- set base_table = api.Relation.create(database=states.database, schema=states.schema, identifier='fct_node_runs') %}
with periods as (
    select distinct period_id, period_start, as_of from {{ model }}
),

base as (
    select p.period_id, count(r.node_run_id) as base_runs
    from periods as p
    left join {{ base_table }} as r
        -- open_until (indexed) only prunes; the conditions below decide.
        on r.open_until >= p.period_start
        and r.start_at < p.as_of
        and (r.end_at is null or r.end_at >= p.period_start)
        and (r.cancelled_at is null or r.cancelled_at >= p.period_start)
    group by p.period_id
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
