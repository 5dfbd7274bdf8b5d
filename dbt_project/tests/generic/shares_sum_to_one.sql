{#- Achievement-rate marts (SEMANTICS.md "Rates"): the three shares add up to one when anything is
    evaluated, and are all null when nothing is. -#}
{% test shares_sum_to_one(model) %}
select * from {{ model }}
where (evaluated_runs > 0 and abs(normal_share + acceptable_share + warning_share - 1) > 1e-9)
    or (evaluated_runs = 0 and (normal_share is not null or acceptable_share is not null or warning_share is not null))
{% endtest %}
