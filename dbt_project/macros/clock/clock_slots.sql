{#- Working intervals per UTC day in dim_calendar_days; orchestration/reference/calendars.py has the same number. -#}
{% macro clock_slots() -%}
    {{ return(6) }}
{%- endmacro %}
