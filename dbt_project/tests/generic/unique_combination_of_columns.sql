{#- dbt_utils.unique_combination_of_columns, written here because dbt's package hub cannot be reached
    from these machines: a primary key over several columns, no two rows share the combination.
    Same name and argument as the package test, so switching to it is a one-line packages.yml. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}
