{#- "Now" for as_of: as_of_cap (window_value.sql) when the caller fixes the evaluation instant, else the time of the run. -#}
{% macro as_of_cap() -%}
    {%- set cap = window_value('as_of_cap') or modules.datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M:%S') -%}
    cast('{{ cap }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}
