"""Benchmarks of the pipeline and of the live evaluation (not imported by the pipeline)."""
