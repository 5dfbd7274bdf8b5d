{#-
  The commitment a run is judged by: the version in force at `at` for its own segment, else for
  segment '*' (SEMANTICS.md "Commitments"). Joins dim_commitments as `own` and `fallback`; read the
  winner with commitment_columns().
-#}
{% macro join_commitment_in_force(runs, node, segment, at) -%}
    {%- for alias, seg in [('own', segment), ('fallback', "'*'")] %}
    left join {{ ref('dim_commitments') }} as {{ alias }}
        on {{ alias }}.process_code = {{ runs }}.process_code
        and {{ alias }}.node_code = {{ node }}
        and {{ alias }}.segment = {{ seg }}
        and {{ alias }}.valid_from <= {{ at }}
        and ({{ alias }}.valid_to is null or {{ at }} < {{ alias }}.valid_to)
    {%- endfor %}
{%- endmacro %}
