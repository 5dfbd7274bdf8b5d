{%- set slot_columns = [] -%}
{%- for i in range(1, clock_slots() + 1) -%}
    {%- do slot_columns.extend(['w' ~ i ~ '_start', 'w' ~ i ~ '_end']) -%}
{%- endfor -%}
select
    cast(calendar_version_id as {{ dbt.type_string() }}) as calendar_version_id,
    cast(utc_day as {{ dbt.type_bigint() }}) as utc_day,
    cast(day_start as {{ dbt.type_timestamp() }}) as day_start,
    {% for column in slot_columns -%}
        cast({{ column }} as {{ dbt.type_bigint() }}) as {{ column }},
    {% endfor -%}
    cast(cum_seconds as {{ dbt.type_bigint() }}) as cum_seconds
from {{ source('landing', 'calendar_days') }}
