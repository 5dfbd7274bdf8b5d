{{ config(tags=['period_month']) }}

{{ achievement_rates(grain='month', run_states=ref('node_run_states_monthly')) }}
