{{ config(tags=['period_month']) }}

{{ process_bottlenecks(
    grain='month',
    run_states=ref('node_run_states_monthly'),
    order_status=ref('work_order_status_monthly'),
    rates=ref('achievement_rates_monthly'),
) }}
