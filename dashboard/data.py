"""Where the dashboard reads: the reporting layer, read-only, through a connection of its own.

- WAREHOUSE_TARGET: duckdb (default) or postgres;
- WAREHOUSE_SCHEMA: the pipeline's schema; the dashboard reads `<schema>_reporting` (default commitments);
- DASHBOARD_DUCKDB_PATH: the DuckDB file to read (default: the read-only snapshot the pipeline publishes after
  each job, `<warehouse>_readonly.duckdb`, orchestration/reporting/snapshot.py; before the first job, the
  warehouse file itself, opened read-only);
- PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE: PostgreSQL, as the BI role (reporting layer and marts only).

Every query opens its own connection and closes it: a DuckDB file is held only for the milliseconds of a
query, and on PostgreSQL the session is read-only whatever the role may do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from orchestration.reporting.snapshot import snapshot_path
from orchestration.reports.queries import Reporting
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse


@dataclass(frozen=True)
class Connection:
    target: str
    duckdb_path: str = ""
    pg: Mapping[str, str] | None = None

    def query(self, sql: str) -> pd.DataFrame:
        if self.target == "duckdb":
            import duckdb

            with duckdb.connect(self.duckdb_path, read_only=True) as conn:
                return conn.execute(sql).df()
        import psycopg2

        conn = psycopg2.connect(**self.pg, options="-c default_transaction_read_only=on")  # type: ignore[arg-type]
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                columns = [c.name for c in cur.description]
                return pd.DataFrame(cur.fetchall(), columns=columns)
        finally:
            conn.close()

    def describe(self) -> str:
        if self.target == "duckdb":
            return f"duckdb file {self.duckdb_path} (read-only)"
        return f"postgres at {self.pg['host']}:{self.pg['port']} as {self.pg['user']} (read-only session)"  # type: ignore[index]


def connection_from_env(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[Connection, str]:
    """The connection and the pipeline's schema the environment names."""
    env = os.environ if environ is None else environ
    schema = env.get("WAREHOUSE_SCHEMA") or "commitments"
    if (env.get("WAREHOUSE_TARGET") or "duckdb") == "postgres":
        pg = {
            "host": env.get("PGHOST", "127.0.0.1"),
            "port": env.get("PGPORT", "5432"),
            "user": env.get("PGUSER", ""),
            "password": env.get("PGPASSWORD") or None,
            "dbname": env.get("PGDATABASE", ""),
        }
        return Connection("postgres", pg=pg), schema  # type: ignore[arg-type]
    path = env.get("DASHBOARD_DUCKDB_PATH")
    if not path:
        warehouse = Warehouse.from_settings(settings, env)
        snapshot = snapshot_path(warehouse)
        path = str(snapshot if snapshot.exists() else warehouse.duckdb_path)
    return Connection("duckdb", duckdb_path=path), schema


def reporting_from_env(settings: Settings) -> tuple[Reporting, Connection]:
    conn, schema = connection_from_env(settings)
    return Reporting(conn.query, schema), conn
