{{ config(tags=['period_day']) }}

{{ node_run_states(grain='day') }}
