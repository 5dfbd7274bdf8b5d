{{ config(tags=['period_day']) }}

{{ work_order_status(grain='day', progress=ref('int_work_order_status__daily'), run_states=ref('node_run_states_daily')) }}
