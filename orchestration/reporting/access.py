"""The read-only PostgreSQL role for BI tools (`commitments bi-role create`).

It may read the reporting views (`<schema>_reporting`) and the marts (`<schema>`), today's and every
relation created there later (dbt replaces its tables and views on each build; default privileges give
the new ones the same grant). Nothing on `<schema>_landing` (raw source rows, the quarantine, the alert
outbox) nor `<schema>_staging`: the reporting views that summarise them (rpt_data_quality) read them with
their owner's rights, as PostgreSQL views do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from orchestration.errors import ConfigError
from orchestration.reporting.snapshot import snapshot_path
from orchestration.warehouse import Warehouse

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def create_bi_role(
    warehouse: Warehouse, role: str, password_variable: str, environ: Mapping[str, str] | None = None
) -> list[str]:
    """Create the role (or bring an existing one to exactly this access), with the password read from the
    environment variable named; returns the schemas it may read. Raises ConfigError on DuckDB, on a role
    name that is not a plain identifier and on an unset password variable. The password is never printed."""
    if warehouse.target != "postgres":
        raise ConfigError(
            "bi-role create makes a PostgreSQL role (WAREHOUSE_TARGET=postgres). A DuckDB warehouse has no roles: "
            f"point BI tools at the read-only snapshot {snapshot_path(warehouse)}, published after every job"
        )
    if not ROLE_NAME.match(role):
        raise ConfigError(f"--role {role!r} is not a role name: use lower-case letters, digits and underscores")
    password = (os.environ if environ is None else environ).get(password_variable)
    if not password:
        raise ConfigError(f"{password_variable} is not set: put the role's password in it (it is never printed)")
    readable = [warehouse.reporting_schema, warehouse.schema_name]
    with warehouse.connect() as conn:
        cur = conn.cursor()
        cur.execute("select 1 from pg_roles where rolname = %s", [role])
        if cur.fetchone() is None:
            cur.execute(f"create role {role}")
        # psycopg2 quotes the password as a literal; it never reaches a log or a message.
        cur.execute(
            f"alter role {role} with login nosuperuser nocreatedb nocreaterole noinherit noreplication password %s",
            [password],
        )
        cur.execute("select current_database()")
        cur.execute(f'grant connect on database "{cur.fetchone()[0]}" to {role}')
        for schema in (warehouse.landing_schema, warehouse.staging_schema):
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(f"revoke all on all tables in schema {schema} from {role}")
            cur.execute(f"revoke all on schema {schema} from {role}")
        for schema in readable:
            cur.execute(f"create schema if not exists {schema}")
            cur.execute(f"grant usage on schema {schema} to {role}")
            cur.execute(f"grant select on all tables in schema {schema} to {role}")
            # Relations the pipeline's user creates later (each dbt build) get the same grant.
            cur.execute(f"alter default privileges in schema {schema} grant select on tables to {role}")
    return readable
