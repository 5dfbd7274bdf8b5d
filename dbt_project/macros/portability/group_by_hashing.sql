{#- A pre-hook for a model whose aggregate has far more groups than PostgreSQL can estimate (keys from a
    materialised CTE joined on a range): it sorts millions of rows on disk to group them, where hashing them
    takes half the time (int_work_order_status__daily at 1M node runs: its grouped join 7.8 s sorted, 4.4 s
    hashed; the whole query 12.4 -> 9.2 s). `set local` holds for the model's transaction only. DuckDB always
    hashes. -#}
{% macro group_by_hashing() -%}
    {{ return(adapter.dispatch('group_by_hashing', 'service_commitments')()) }}
{%- endmacro %}

{% macro default__group_by_hashing() -%}
    select 1
{%- endmacro %}

{% macro postgres__group_by_hashing() -%}
    set local enable_sort = off
{%- endmacro %}
