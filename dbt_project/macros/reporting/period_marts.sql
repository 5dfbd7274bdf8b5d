{#-
  The grains of a period mart as one relation: `select <columns> from` each of <mart>_daily, _weekly and
  _monthly that exists, `union all`. The reporting views are the one place the grains meet. A grain whose
  mart is not built yet (a new warehouse before its first weekly run) is left out; every job's last step
  rebuilds the views when a relation they read has appeared (orchestration/reporting/views.py), so it joins
  as soon as it exists. Only ref(), load_relation() and the project may decide what a view compiles to:
  that is what the step compares (no var(), env_var() or run_query() here).
-#}
{% macro period_marts(mart, columns='*') -%}
    {%- set present = [] -%}
    {%- for suffix in ['daily', 'weekly', 'monthly'] -%}
        {#- ref() at parse time too, so dbt and Dagster see every grain as a parent. -#}
        {%- set relation = ref(mart ~ '_' ~ suffix) -%}
        {%- if not execute or load_relation(relation) is not none -%}
            {%- do present.append(relation) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for relation in present %}
    select {{ columns }} from {{ relation }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- Whether every relation named exists yet (true while parsing, when nothing is looked up). -#}
{% macro relations_exist(relations) -%}
    {%- for relation in relations -%}
        {%- if execute and load_relation(relation) is none -%}
            {{ return(false) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}

{#-
  An empty relation with the columns and types of the model's contract: what a reporting view holds
  until the marts it reads exist (a new warehouse), so BI tools and the dashboard find every view.
-#}
{% macro empty_as_contract() -%}
    select
    {%- for column in model.columns.values() %}
        cast(null as {{ column.data_type }}) as {{ column.name }}{{ ',' if not loop.last }}
    {%- endfor %}
    where 1 = 0
{%- endmacro %}
