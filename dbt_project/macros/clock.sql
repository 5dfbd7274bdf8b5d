{#-
  Where durations are measured (SEMANTICS.md "State as of an instant T"): seconds between two instants
  on a commitment's clock, minus the work order's paused time between them.

  The wall clock reads epoch seconds. A business clock reads its calendar's cumulative working-time
  table (dim_calendar_days, built by orchestration/calendars.py): working seconds up to an instant t =
  cum_seconds of t's UTC day + the part of that day's working intervals before t. Two lookups and a few
  least/greatest per instant: constant work per run, whatever its length.
  dbt.datediff counts calendar boundaries, not elapsed time, so everything comes from epoch seconds.
-#}

{#- Working intervals per UTC day in dim_calendar_days; orchestration/calendars.py has the same number. -#}
{% macro clock_slots() -%}
    {{ return(6) }}
{%- endmacro %}

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

{% macro bigquery__epoch_seconds(ts) -%}
    cast(unix_micros({{ ts }}) / 1000000 as float64)
{%- endmacro %}

{#- The row of the working-time table for the UTC day of an instant given as epoch seconds, as `alias`
    (no row on the wall clock). -#}
{% macro calendar_day_join(alias, calendar_version_id, epoch) -%}
    left join {{ ref('dim_calendar_days') }} as {{ alias }}
        on {{ alias }}.calendar_version_id = {{ calendar_version_id }}
        and {{ alias }}.utc_day = cast(floor({{ epoch }} / 86400) as {{ dbt.type_bigint() }})
{%- endmacro %}

{#- The clock's reading at an instant given as epoch seconds: the instant itself on the wall clock,
    working seconds on a business clock. Null when a business clock has no row for the day (outside its
    calendar's coverage): the marts' tests then fail by name instead of judging on a wrong clock. -#}
{% macro clock_reading(alias, calendar_version_id, epoch) -%}
    case
        when {{ calendar_version_id }} is null then {{ epoch }}
        else {{ alias }}.cum_seconds
        {%- for i in range(1, clock_slots() + 1) %}
            + greatest(0, least({{ epoch }}, {{ alias }}.w{{ i }}_end) - {{ alias }}.w{{ i }}_start)
        {%- endfor %}
    end
{%- endmacro %}

{#-
  CTEs `<name>__versioned`, `<name>__paused` and `<name>` (to place inside a model's `with`): the rows
  of `relation` with
    calendar_version_id  the version of their clock's calendar in force at `start_at` (null: wall clock)
    wall_seconds         elapsed wall-clock time from `start_at` to `until`
    paused_seconds       the clock's time inside the work order's pauses within [start_at, until]
    run_seconds          the clock's time from `start_at` to `until`, less paused_seconds
  `relation` needs the columns `keys` (unique per row), work_order_id, start_at, `until` and `clock`.
  A run is measured with one calendar version for its whole length, like it is judged by one commitment.
-#}
{% macro measured_on_clock(name, relation, keys, until) -%}
{{ name }}__versioned as (
    select
        r.*,
        cal.calendar_version_id,
        -- Each instant converted once: the lookups and readings below use it a dozen times.
        {{ epoch_seconds('r.start_at') }} as start_epoch,
        {{ epoch_seconds('r.' ~ until) }} as until_epoch
    from {{ relation }} as r
    left join {{ ref('dim_calendar_versions') }} as cal
        on cal.calendar_name = r.clock
        and cal.valid_from <= r.start_at
        and (cal.valid_to is null or r.start_at < cal.valid_to)
),

{{ name }}__pause_spans as (
    select
        {% for k in keys %}v.{{ k }}, {% endfor %}
        v.calendar_version_id,
        case when p.pause_start > v.start_at then {{ epoch_seconds('p.pause_start') }} else v.start_epoch end
            as from_epoch,
        case
            when p.pause_end is null or p.pause_end > v.{{ until }} then v.until_epoch
            else {{ epoch_seconds('p.pause_end') }}
        end as to_epoch
    from {{ name }}__versioned as v
    inner join {{ ref('fct_work_order_pauses') }} as p
        on p.work_order_id = v.work_order_id
        and p.pause_start < v.{{ until }}
        and (p.pause_end is null or p.pause_end > v.start_at)
),

{{ name }}__paused as (
    select
        {% for k in keys %}s.{{ k }}, {% endfor %}
        sum(
            {{ clock_reading('to_day', 's.calendar_version_id', 's.to_epoch') }}
            - {{ clock_reading('from_day', 's.calendar_version_id', 's.from_epoch') }}
        ) as paused_seconds
    from {{ name }}__pause_spans as s
    {{ calendar_day_join('from_day', 's.calendar_version_id', 's.from_epoch') }}
    {{ calendar_day_join('to_day', 's.calendar_version_id', 's.to_epoch') }}
    group by {% for k in keys %}s.{{ k }}{{ ', ' if not loop.last }}{% endfor %}
),

{{ name }} as (
    select
        v.*,
        v.until_epoch - v.start_epoch as wall_seconds,
        case when v.{{ until }} is not null then coalesce(pz.paused_seconds, 0) end as paused_seconds,
        {{ clock_reading('until_day', 'v.calendar_version_id', 'v.until_epoch') }}
        - {{ clock_reading('start_day', 'v.calendar_version_id', 'v.start_epoch') }}
        - coalesce(pz.paused_seconds, 0) as run_seconds
    from {{ name }}__versioned as v
    {{ calendar_day_join('start_day', 'v.calendar_version_id', 'v.start_epoch') }}
    {{ calendar_day_join('until_day', 'v.calendar_version_id', 'v.until_epoch') }}
    left join {{ name }}__paused as pz
        on {% for k in keys %}pz.{{ k }} = v.{{ k }}{{ ' and ' if not loop.last }}{% endfor %}
)
{%- endmacro %}
