{{ config(tags=['period_month']) }}

{{ commitment_calibration(grain='month', run_states=ref('node_run_states_monthly'), rates=ref('achievement_rates_monthly')) }}
