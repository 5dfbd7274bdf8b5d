"""The operator's command line, `commitments` (pyproject `[project.scripts]`): the demo, backfills on your own
configuration, the quality commands, the monitoring demo and the benchmarks. Built on the pipeline and the
tools (demo/, benchmarks/); nothing imports it."""
