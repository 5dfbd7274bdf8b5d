{{ achievement_rates('week', 'node_run_states_weekly') }}
