{#-
  A filter keeping the status events of the sources that have landed a pausing event (event_role, decided at
  landing from the source's declaration): a pause needs the events around it, so int_status_events__pauses
  numbers every event of a work order, and most sources declare no pausing status. The sources are written
  in as constants, which both warehouses push below the staging view's windows (partitioned by source
  system); none gives `1 = 0`, so a warehouse without pauses reads no events for them (at 10M node runs,
  fct_work_order_pauses took 25 s to find none). One query on the landing table per build; all sources
  while parsing or before the landing table exists (sqlfluff compiles against an empty database).
-#}
{% macro pausing_sources_filter(column='source_system') -%}
    {%- if not execute or load_relation(source('landing', 'status_events')) is none -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set found = run_query(
        'select distinct source_system from ' ~ source('landing', 'status_events') ~ " where event_role = 'pausing'"
    ) -%}
    {%- set sources = found.columns[0].values() | list -%}
    {%- if not sources -%}
        {{ return('1 = 0') }}
    {%- endif -%}
    {%- set quoted = [] -%}
    {%- for name in sources | sort -%}
        {%- do quoted.append("'" ~ (name | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return(column ~ ' in (' ~ quoted | join(', ') ~ ')') }}
{%- endmacro %}
