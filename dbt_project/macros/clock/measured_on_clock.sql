{#-
  CTEs `<name>__versioned`, `<name>__paused` and `<name>` (to place inside a model's `with`): the rows
  of `relation` with
    calendar_version_id  the version of their clock's calendar in force at `start_at` (null: wall clock)
    wall_seconds         elapsed wall-clock time from `start_at` to `until`
    paused_seconds       the clock's time inside the work order's pauses within [start_at, until]
    run_seconds          the clock's time from `start_at` to `until`, less paused_seconds
  `relation` needs the columns `keys` (unique per row), work_order_id, start_at, `until` and `clock`.
  A run is measured with one calendar version for its whole length, like it is judged by one commitment.
  Durations (SEMANTICS.md "State as of an instant T") are seconds between two instants on a commitment's
  clock, minus the work order's paused time between them.
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
