{{ config(tags=['period_day'], pre_hook=["{{ group_by_hashing() }}"]) }}

{{ achievement_rates(grain='day', run_states=ref('node_run_states_daily')) }}
