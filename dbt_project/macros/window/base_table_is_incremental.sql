{#-
  True when fct_node_runs is being updated in place for a window (or, live, since an instant): only the
  work orders that changed are rebuilt, so a run's cost follows the changes, not the length of history.
-#}
{% macro base_table_is_incremental() -%}
    {%- if not execute or not (window_is_set() or changed_since_is_set()) or flags.FULL_REFRESH -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set existing = adapter.get_relation(database=target.database, schema=target.schema, identifier='fct_node_runs') -%}
    {{ return(existing is not none) }}
{%- endmacro %}
