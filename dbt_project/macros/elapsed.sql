{#-
  The one place where a duration is computed: seconds between two instants on a commitment's clock.
  Only the wall clock exists so far; business calendars and pauses will plug in here, keyed by `clock`.
  dbt.datediff counts calendar boundaries, not elapsed time, so durations come from epoch seconds.
-#}
{% macro elapsed_seconds(start_at, end_at, clock="'wall'") -%}
    ({{ epoch_seconds(end_at) }} - {{ epoch_seconds(start_at) }})
{%- endmacro %}

{% macro epoch_seconds(ts) -%}
    {{ return(adapter.dispatch('epoch_seconds', 'service_commitments')(ts)) }}
{%- endmacro %}

{% macro default__epoch_seconds(ts) -%}
    cast(extract(epoch from {{ ts }}) as {{ type_double() }})
{%- endmacro %}

{% macro bigquery__epoch_seconds(ts) -%}
    cast(unix_micros({{ ts }}) / 1000000 as float64)
{%- endmacro %}
