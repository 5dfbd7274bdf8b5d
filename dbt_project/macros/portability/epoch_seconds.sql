{#- Seconds since 1970-01-01 UTC as a double. dbt.datediff counts calendar boundaries, not elapsed time,
    so the clock macros (macros/clock) measure everything from this. -#}
{% macro epoch_seconds(ts) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'service_commitments')(ts)) }}
{%- endmacro %}

{% macro default__epoch_seconds(ts) -%}
    cast(extract(epoch from {{ ts }}) as {{ type_double() }})
{%- endmacro %}

{#- extract() returns numeric on PostgreSQL 14+, several times slower than date_part's double. -#}
{% macro postgres__epoch_seconds(ts) -%}
    date_part('epoch', {{ ts }})
{%- endmacro %}
