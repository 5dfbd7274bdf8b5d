{#- Portable column types: the few places the adapters disagree. -#}

{#- Cast to a named portable type, so contracts hold on every adapter. -#}
{% macro typed(expression, type) -%}
    {%- set types = {
        'string': type_varchar(), 'int': dbt.type_int(), 'bigint': dbt.type_bigint(),
        'double': type_double(), 'timestamp': dbt.type_timestamp(), 'date': 'date', 'boolean': dbt.type_boolean(),
    } -%}
    cast({{ expression }} as {{ types[type] }})
{%- endmacro %}

{#- A 64-bit float everywhere: dbt.type_float() is a 32-bit REAL on DuckDB, too coarse for epoch seconds. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'service_commitments')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}

{#- Strings as varchar: dbt.type_string() is text on PostgreSQL, which an enforced varchar contract rejects
    on the next incremental run. -#}
{% macro type_varchar() -%}
    {{ return(adapter.dispatch('type_varchar', 'service_commitments')()) }}
{%- endmacro %}

{% macro default__type_varchar() -%}
    varchar
{%- endmacro %}

{% macro bigquery__type_varchar() -%}
    string
{%- endmacro %}
