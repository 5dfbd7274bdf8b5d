{#- The band of a run (SEMANTICS.md "State as of an instant T"): normal up to the commitment limit,
    acceptable up to the tolerance limit, warning beyond; none when cancelled or without commitment. -#}
{% macro run_band(run_status, run_seconds, commitment_seconds, tolerance_seconds) -%}
    case
            when {{ run_status }} = 'cancelled' or {{ commitment_seconds }} is null then null
            when {{ run_seconds }} <= {{ commitment_seconds }} then 'normal'
            when {{ run_seconds }} <= {{ tolerance_seconds }} then 'acceptable'
            else 'warning'
        end
{%- endmacro %}
