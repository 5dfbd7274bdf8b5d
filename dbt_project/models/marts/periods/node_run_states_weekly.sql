{{ config(tags=['period_week']) }}

{{ node_run_states(grain='week') }}
