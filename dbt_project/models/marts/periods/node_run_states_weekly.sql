{{ node_run_states('week') }}
