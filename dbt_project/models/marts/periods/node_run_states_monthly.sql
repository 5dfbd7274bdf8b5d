{{ config(tags=['period_month']) }}

{{ node_run_states(grain='month') }}
