{#-
  True when every row in the landing tables lies in the partition window, i.e. the run rebuilds every work
  order (a first load, a backfill of the whole history). A windowed test then reads the whole table: the
  same rows as the filter, without evaluating the window's work orders again in each test (on PostgreSQL
  that union cost 1.3-1.6 s per test at 1M runs, more than the test itself: BENCHMARKS.md finding 6).
  Four index-endpoint probes on PostgreSQL; one query per test.
-#}
{% macro window_covers_all_landed() -%}
    {%- if not execute or not window_is_set() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set outside -%}
        {%- for table in ['interval_runs', 'status_events'] %}
            {%- for condition in ["partition_date < cast('" ~ window_value('window_start') ~ "' as date)",
                                  "partition_date >= cast('" ~ window_value('window_end') ~ "' as date)"] %}
        select 1 as found where exists (select 1 from {{ source('landing', table) }} where {{ condition }})
        {{ 'union all' if not loop.last }}
            {%- endfor %}
            {{ 'union all' if not loop.last }}
        {%- endfor %}
    {%- endset -%}
    {%- set found = run_query('select count(*) from (' ~ outside ~ ') as landed_outside') -%}
    {{ return(found.columns[0].values()[0] == 0) }}
{%- endmacro %}
