{{ config(tags=['period_month']) }}

{{ work_order_status(grain='month', progress=ref('int_work_order_status__monthly'), run_states=ref('node_run_states_monthly')) }}
