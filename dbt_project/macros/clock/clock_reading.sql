{#-
  The clock's reading at an instant given as epoch seconds: the instant itself on the wall clock, working
  seconds on a business clock. A business clock reads its calendar's cumulative working-time table
  (dim_calendar_days, built by orchestration/reference/calendars.py): working seconds up to an instant t =
  cum_seconds of t's UTC day + the part of that day's working intervals before t. Two lookups and a few
  least/greatest per instant: constant work per run, whatever its length.
  Null when a business clock has no row for the day (outside its calendar's coverage): the marts' tests
  then fail by name instead of judging on a wrong clock.
-#}
{% macro clock_reading(alias, calendar_version_id, epoch) -%}
    case
        when {{ calendar_version_id }} is null then {{ epoch }}
        else {{ alias }}.cum_seconds
        {%- for i in range(1, clock_slots() + 1) %}
            + greatest(0, least({{ epoch }}, {{ alias }}.w{{ i }}_end) - {{ alias }}.w{{ i }}_start)
        {%- endfor %}
    end
{%- endmacro %}
