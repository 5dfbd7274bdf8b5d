{#- The grouping levels of the achievement-rate marts; '*' marks a rolled-up dimension. -#}
{% macro rate_grouping_levels() -%}
    {{ return({
        'all': [],
        'process': ['process_code'],
        'process_node': ['process_code', 'node_code'],
        'process_segment': ['process_code', 'segment'],
        'process_node_segment': ['process_code', 'node_code', 'segment'],
        'process_department': ['process_code', 'department'],
        'department': ['department'],
        'department_position': ['department', 'position'],
        'segment': ['segment'],
    }) }}
{%- endmacro %}
