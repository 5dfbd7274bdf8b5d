{{ config(tags=['period_day']) }}

{{ achievement_rates(grain='day', run_states=ref('node_run_states_daily')) }}
