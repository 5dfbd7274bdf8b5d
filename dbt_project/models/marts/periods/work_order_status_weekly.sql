{{ config(tags=['period_week']) }}

{{ work_order_status(grain='week', progress=ref('int_work_order_status__weekly'), run_states=ref('node_run_states_weekly')) }}
