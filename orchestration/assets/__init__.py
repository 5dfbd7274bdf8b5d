"""Dagster assets: reference tables, one extraction asset per source system, and the dbt models."""
