{{ config(tags=['period_day']) }}

{{ work_order_status(grain='day', run_states=ref('node_run_states_daily')) }}
