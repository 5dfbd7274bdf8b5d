{{ work_order_status('day', 'node_run_states_daily') }}
