"""Service-commitment pipeline: Dagster orchestration of extraction, dbt models and checks."""
