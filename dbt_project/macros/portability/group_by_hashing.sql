{#- A pre-hook for a model whose large aggregate PostgreSQL plans as a sort, on disk, where hashing the groups takes
    a fraction of the time. int_work_order_status__<grain>: it cannot estimate the groups of a range join over a
    materialised CTE (int_work_order_status__daily at 1M node runs: its grouped join 7.8 s sorted, 4.4 s hashed;
    the whole query 12.4 -> 9.2 s). achievement_rates_<grain>: the states mart's runs grouped per period on
    eleven keys (achievement_rates_daily's query at 1M node runs: 4.6 s sorted, 1.3-1.8 s hashed). `set local`
    holds for the model's transaction only. DuckDB always hashes. -#}
{% macro group_by_hashing() -%}
    {{ return(adapter.dispatch('group_by_hashing', 'service_commitments')()) }}
{%- endmacro %}

{% macro default__group_by_hashing() -%}
    select 1
{%- endmacro %}

{% macro postgres__group_by_hashing() -%}
    set local enable_sort = off
{%- endmacro %}
