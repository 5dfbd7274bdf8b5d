{#- The row of the working-time table for the UTC day of an instant given as epoch seconds, as `alias`
    (no row on the wall clock). -#}
{% macro calendar_day_join(alias, calendar_version_id, epoch) -%}
    left join {{ ref('dim_calendar_days') }} as {{ alias }}
        on {{ alias }}.calendar_version_id = {{ calendar_version_id }}
        and {{ alias }}.utc_day = cast(floor({{ epoch }} / 86400) as {{ dbt.type_bigint() }})
{%- endmacro %}
