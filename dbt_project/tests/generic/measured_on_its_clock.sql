{#- Every judged run has a run time on its clock: a business-clock run outside its calendar's coverage
    (or before its first version) fails here by name instead of being judged on a wrong clock. -#}
{% test measured_on_its_clock(model) %}
select * from {{ model }}
where run_status <> 'cancelled'
    and commitment_version_id is not null
    and (run_seconds is null or run_seconds < 0)
{% endtest %}
