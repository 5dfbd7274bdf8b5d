{#- The periods a partitioned run evaluates: those that start in the window. -#}
{% macro period_starts_in_window(column='period_start_date') -%}
    {{ column }} >= cast('{{ window_value('window_start') }}' as date) and {{ column }} < cast('{{ window_value('window_end') }}' as date)
{%- endmacro %}
