{{ config(tags=['period_week']) }}

{{ work_order_status(grain='week', run_states=ref('node_run_states_weekly')) }}
