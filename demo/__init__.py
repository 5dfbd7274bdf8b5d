"""The demo source systems and the commands that show the pipeline working on them (not imported by the pipeline)."""
