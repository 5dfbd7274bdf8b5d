{{ work_order_status('month', 'node_run_states_monthly') }}
