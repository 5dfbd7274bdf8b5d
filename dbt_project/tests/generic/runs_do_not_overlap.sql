{#- Two passes through one node of a work order cannot run at once. Overlaps inside one extraction batch
    are quarantined before load (reason overlapping_run); this finds the ones that arrive in different
    batches (another day, another source system), which the batch cannot see. Warn severity: the runs
    are real rows of the sources, to be fixed there; the check names them in Dagster. -#}
{% test runs_do_not_overlap(model) %}
with ordered as (
    select
        work_order_id,
        node_code,
        visit,
        source_system,
        start_at,
        open_until,
        max(open_until) over (
            partition by work_order_id, node_code order by start_at, visit
            rows between unbounded preceding and 1 preceding
        ) as earlier_runs_until
    from {{ model }}
)

select * from ordered
where start_at < earlier_runs_until
{% endtest %}
