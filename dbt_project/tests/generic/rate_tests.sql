{#- Model-level checks of the achievement-rate marts (SEMANTICS.md "Rates"). Each returns failing rows. -#}

{% test rates_within_unit_interval(model) %}
select * from {{ model }}
where normal_share < 0 or normal_share > 1
    or acceptable_share < 0 or acceptable_share > 1
    or warning_share < 0 or warning_share > 1
    or completed_achievement_rate < 0 or completed_achievement_rate > 1
{% endtest %}

{% test shares_sum_to_one(model) %}
select * from {{ model }}
where (evaluated_runs > 0 and abs(normal_share + acceptable_share + warning_share - 1) > 1e-9)
    or (evaluated_runs = 0 and (normal_share is not null or acceptable_share is not null or warning_share is not null))
{% endtest %}

{% test states_add_up_to_total(model) %}
select * from {{ model }}
where total_runs <> completed_normal + completed_acceptable + completed_warning
    + in_progress_normal + in_progress_acceptable + in_progress_warning + cancelled + no_commitment
{% endtest %}
