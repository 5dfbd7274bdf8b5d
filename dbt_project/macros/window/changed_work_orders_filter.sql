{#- A filter keeping only work orders with landed rows in the window (everything when not incremental). -#}
{% macro changed_work_orders_filter(column='work_order_id') -%}
    {%- if base_table_is_incremental() %}
    and {{ in_changed_work_orders(column, changed_work_orders_sql()) }}
    {%- endif %}
{%- endmacro %}
