{{ config(tags=['period_day']) }}

{{ work_order_progress(grain='day') }}
