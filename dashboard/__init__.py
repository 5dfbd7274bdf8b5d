"""The dashboard (issue 13): a Dash app over the reporting layer only, read-only, Chinese by default with
English available. A tool on top of the pipeline like demo/ and benchmarks/: the pipeline never imports it.
Start it with `commitments dashboard` or `make dashboard`."""
