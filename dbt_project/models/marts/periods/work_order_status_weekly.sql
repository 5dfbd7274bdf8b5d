{{ work_order_status('week', 'node_run_states_weekly') }}
