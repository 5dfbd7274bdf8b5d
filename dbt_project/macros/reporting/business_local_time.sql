{#-
  A UTC instant (naive timestamp) as the wall-clock time of the business time zone (naive timestamp).
  `(ts at time zone 'UTC') at time zone zone` reads the same on DuckDB (ICU) and PostgreSQL and does not
  depend on the session's time zone. The zone is the one the business periods were drawn in
  (dim_periods.time_zone, from pipeline.yaml / BUSINESS_TIME_ZONE), joined as `business_time_zone`
  through business_zone_join().
-#}
{% macro business_local_time(utc_instant, zone='z.business_time_zone') -%}
    {{ typed('((' ~ utc_instant ~ ") at time zone 'UTC') at time zone " ~ zone, 'timestamp') }}
{%- endmacro %}

{#- The one-row join that brings the business time zone to a reporting view (alias z). -#}
{% macro business_zone_join() -%}
    cross join (select max(time_zone) as business_time_zone from {{ ref('dim_periods') }}) as z
{%- endmacro %}
