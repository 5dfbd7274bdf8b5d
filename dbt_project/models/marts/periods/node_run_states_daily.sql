{{ node_run_states('day') }}
