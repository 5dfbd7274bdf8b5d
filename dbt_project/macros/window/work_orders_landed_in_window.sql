{#- The work orders with rows landed in the partition window: those a partitioned run rebuilds and tests. -#}
{% macro work_orders_landed_in_window() -%}
        select work_order_id from {{ source('landing', 'interval_runs') }}
        where partition_date >= cast('{{ window_value('window_start') }}' as date)
            and partition_date < cast('{{ window_value('window_end') }}' as date)
        union
        select work_order_id from {{ source('landing', 'status_events') }}
        where partition_date >= cast('{{ window_value('window_start') }}' as date)
            and partition_date < cast('{{ window_value('window_end') }}' as date)
{%- endmacro %}
