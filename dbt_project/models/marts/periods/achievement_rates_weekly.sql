{{ config(tags=['period_week'], pre_hook=["{{ group_by_hashing() }}"]) }}

{{ achievement_rates(grain='week', run_states=ref('node_run_states_weekly')) }}
