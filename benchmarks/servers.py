"""The PostgreSQL server the benchmarks use where the environment names none: this machine's, as the tests'
(tests/conftest.py PG_ENV). A module of its own so that the jobs benchmark's parent process reads it without
importing the stage benchmark's dependencies."""

PG_DEFAULTS = {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "postgres", "PGDATABASE": "test"}
