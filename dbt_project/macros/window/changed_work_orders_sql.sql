{#- The work orders with rows landed since var changed_since (live evaluation), else in the window. -#}
{% macro changed_work_orders_sql() -%}
    {%- if changed_since_is_set() %}
        select work_order_id from {{ source('landing', 'interval_runs') }}
        where extracted_at >= cast('{{ var("changed_since") }}' as {{ dbt.type_timestamp() }})
        union
        select work_order_id from {{ source('landing', 'status_events') }}
        where extracted_at >= cast('{{ var("changed_since") }}' as {{ dbt.type_timestamp() }})
    {%- else %}
        {{- work_orders_landed_in_window() }}
    {%- endif %}
{%- endmacro %}
