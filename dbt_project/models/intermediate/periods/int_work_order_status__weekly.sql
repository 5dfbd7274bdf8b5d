{{ config(tags=['period_week']) }}

{{ work_order_progress(grain='week') }}
