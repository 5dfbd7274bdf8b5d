{#- Cast to a named portable type, so contracts hold on every adapter. -#}
{% macro typed(expression, type) -%}
    {%- set types = {
        'string': type_varchar(), 'int': dbt.type_int(), 'bigint': dbt.type_bigint(),
        'double': type_double(), 'timestamp': dbt.type_timestamp(), 'date': 'date', 'boolean': dbt.type_boolean(),
    } -%}
    cast({{ expression }} as {{ types[type] }})
{%- endmacro %}
