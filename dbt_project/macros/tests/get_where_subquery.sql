{#-
  Overrides dbt's get_where_subquery (the documented way to use macros in a test's `where`). A `where`
  that names one of the window filters below is replaced by it, so a windowed test reads the same rows
  the models rebuilt; outside a partition window, or when the window holds every landed row
  (macros/window/window_covers_all_landed.sql), it reads everything (`1 = 1`). Any other `where` is
  used as written, as dbt does.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == 'work_orders_landed_in_window' -%}
        {%- if window_is_set() and not window_covers_all_landed() -%}
            {%- set where = in_changed_work_orders('work_order_id', work_orders_landed_in_window(), over_windows=false) -%}
        {%- else -%}
            {%- set where = '1 = 1' -%}
        {%- endif -%}
    {%- elif where == 'period_starts_in_window' -%}
        {%- set where = period_starts_in_window() if window_is_set() else '1 = 1' -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
