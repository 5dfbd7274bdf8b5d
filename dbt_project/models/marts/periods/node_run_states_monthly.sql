{{ node_run_states('month') }}
