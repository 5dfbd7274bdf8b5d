{#- Achievement-rate marts (SEMANTICS.md "Rates"): every share and rate lies in [0, 1]. -#}
{% test rates_within_unit_interval(model) %}
select * from {{ model }}
where normal_share < 0 or normal_share > 1
    or acceptable_share < 0 or acceptable_share > 1
    or warning_share < 0 or warning_share > 1
    or completed_achievement_rate < 0 or completed_achievement_rate > 1
{% endtest %}
