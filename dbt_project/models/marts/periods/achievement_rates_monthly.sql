{{ achievement_rates('month', 'node_run_states_monthly') }}
