{{ achievement_rates('day', 'node_run_states_daily') }}
