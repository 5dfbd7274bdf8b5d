{#- The cumulative working-time table business clocks read (macros/clock/clock_reading.sql); built by
    orchestration/reference/calendars.py. Looked up by (calendar_version_id, utc_day), twice per measured run. -#}
{{ config(post_hook=["{{ index_on(this, ['calendar_version_id', 'utc_day']) }}"]) }}
select * from {{ ref('stg_landing__calendar_days') }}
