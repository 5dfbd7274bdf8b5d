{{ config(tags=['period_month']) }}

{{ work_order_status(grain='month', run_states=ref('node_run_states_monthly')) }}
