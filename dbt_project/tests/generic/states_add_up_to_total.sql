{#- Achievement-rate marts (SEMANTICS.md "Rates"): every run in scope is counted in exactly one state. -#}
{% test states_add_up_to_total(model) %}
select * from {{ model }}
where total_runs <> completed_normal + completed_acceptable + completed_warning
    + in_progress_normal + in_progress_acceptable + in_progress_warning + cancelled + no_commitment
{% endtest %}
