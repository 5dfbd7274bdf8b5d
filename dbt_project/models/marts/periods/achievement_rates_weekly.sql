{{ config(tags=['period_week']) }}

{{ achievement_rates(grain='week', run_states=ref('node_run_states_weekly')) }}
