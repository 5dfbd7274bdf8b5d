{#- The marts land in the target schema, so BI tools find them under one stable name. A folder with its
    own `+schema` (staging: dbt_project.yml) lands beside it in `<target schema>_<name>`: the staging views
    read landing with their owner's rights, so they stay out of the schema readers are granted. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ target.schema }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
