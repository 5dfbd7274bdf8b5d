{{ config(tags=['period_month'], pre_hook=["{{ group_by_hashing() }}"]) }}

{{ achievement_rates(grain='month', run_states=ref('node_run_states_monthly')) }}
