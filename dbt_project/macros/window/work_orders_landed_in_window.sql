{#- The work orders with rows landed in the partition window: those a partitioned run rebuilds and tests. -#}
{#- `union all`, then grouped: PostgreSQL made a `union` distinct by sorting every landed row (1.26M for the
    60-day window at 1M runs: 0.94 s), and hashes the grouped ids in parallel (0.57 s); fct_node_runs reads
    the list twice. -#}
{% macro work_orders_landed_in_window() -%}
        select work_order_id from (
            select work_order_id from {{ source('landing', 'interval_runs') }}
            where partition_date >= cast('{{ window_value('window_start') }}' as date)
                and partition_date < cast('{{ window_value('window_end') }}' as date)
            union all
            select work_order_id from {{ source('landing', 'status_events') }}
            where partition_date >= cast('{{ window_value('window_start') }}' as date)
                and partition_date < cast('{{ window_value('window_end') }}' as date)
        ) as landed
        group by work_order_id
{%- endmacro %}
