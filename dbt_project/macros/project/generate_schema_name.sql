{#- Every model lands in the target schema: BI tools find the marts under one stable name. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ target.schema }}
{%- endmacro %}
