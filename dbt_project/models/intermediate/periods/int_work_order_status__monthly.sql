{{ config(tags=['period_month']) }}

{{ work_order_progress(grain='month') }}
