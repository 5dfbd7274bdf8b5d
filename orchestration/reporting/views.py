"""Whether the reporting views (dbt_project/models/reporting, tag reporting) are current, told without dbt.

Every job ends with them, and they must be rebuilt whenever something they depend on moved: on PostgreSQL,
dbt replaces a table or a view by renaming it away and dropping it with `cascade`, which drops the views on
it (the reference job's dimensions and staging views, open_run_states); and a view binds the grains and
dimensions that existed when dbt compiled it (macros/reporting/period_marts.sql), so a mart built for the
first time joins only at the next rebuild. But a dbt process costs 3-4 s of start-up and parsing for under
a second of DDL, in every job, for views that most jobs leave as they were. So the step compares a
fingerprint of what the views are made of with the one recorded when they were last built, and starts dbt
only when they differ:

- their definition, from the manifest: the reporting models (SQL checksum, configuration, descriptions and
  columns, which dbt persists as comments), the relations they read (checksum, materialisation, name: a
  mart's new columns change what a view binds), every macro of the project (those the models call, and
  generate_schema_name, which dbt calls for them), the versions of dbt and its adapter. The reporting models
  read no variables, environment or data at compile time (tests/test_reporting_views.py), so this, with
- which of the relations they read exist, is what dbt's compilation depends on; and
- the views as the catalog holds them: each must exist, with the SQL it had when recorded. A view dropped
  by a cascade is missing; one replaced by other hands (a manual `dbt run` of another version) differs.

The record, in `<schema>_landing` (out of the schemas readers are granted), is cleared before dbt starts and
written when it has built every view, with the relations as they were before dbt ran: one created meanwhile
(PostgreSQL runs jobs side by side) makes the next step rebuild rather than be missed. Deleting its row makes
the next job rebuild the views.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from orchestration.dbt_project import REPORTING_TAG
from orchestration.landing.tables import LandingTable
from orchestration.warehouse import Warehouse

# The fingerprint, and its parts as JSON: what changed is said in the run's log and metadata.
BUILT = LandingTable(
    "reporting_views_built", (("fingerprint", "varchar"), ("parts", "varchar"), ("built_at", "timestamp"))
)

Relation = tuple[str, str]  # (schema, name)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _adapter_version(adapter: str) -> str:
    try:
        return version(f"dbt-{adapter}")
    except PackageNotFoundError:
        return ""


@dataclass(frozen=True)
class ViewsState:
    """What the views are made of now, and the fingerprint recorded at their last build."""

    definition: str
    present: frozenset[Relation]  # the relations the views read that exist
    views: Mapping[Relation, str | None]  # each view's SQL in the catalog; None: missing
    recorded: Mapping[str, Any] | None = None  # the parts recorded at the last build

    @property
    def parts(self) -> dict[str, Any]:
        return {
            "definition": self.definition,
            "present": sorted(f"{s}.{n}" for s, n in self.present),
            "views": {
                f"{s}.{n}": sql and hashlib.sha256(sql.encode()).hexdigest() for (s, n), sql in self.views.items()
            },
        }

    @property
    def fingerprint(self) -> str | None:
        """None while a view is missing: never current."""
        return None if any(sql is None for sql in self.views.values()) else _digest(self.parts)

    @property
    def current(self) -> bool:
        return self.fingerprint is not None and self.recorded is not None and _digest(self.recorded) == self.fingerprint

    def why_not_current(self) -> str:
        """What differs from the last build, in a sentence; "" when current."""
        if self.current:
            return ""
        now, before = self.parts, self.recorded
        missing = sorted(name for name, sql in now["views"].items() if sql is None)
        if missing:
            return f"missing: {', '.join(missing)}"
        if before is None:
            return "no record of their last build"
        reasons = []
        if now["definition"] != before.get("definition"):
            reasons.append("their definition changed (models, macros or dbt)")
        appeared = sorted(set(now["present"]) - set(before.get("present", [])))
        gone = sorted(set(before.get("present", [])) - set(now["present"]))
        if appeared:
            reasons.append(f"built since: {', '.join(appeared)}")
        if gone:
            reasons.append(f"gone since: {', '.join(gone)}")
        changed = sorted(name for name, sql in now["views"].items() if sql != before.get("views", {}).get(name))
        if changed:
            reasons.append(f"changed in the catalog: {', '.join(changed)}")
        return "; ".join(reasons) or "changed since their last build"


class ReportingViews:
    """The reporting views of a parsed manifest (the one the Dagster assets were built from).

    Only what does not depend on the dbt profile is taken from it: dagster-dbt reads a manifest once per
    process, and a process may serve several warehouses (tests, what-if replays). Where a model lives follows
    from the warehouse as dbt's generate_schema_name places it: `<schema>`, or `<schema>_<its +schema>`."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        tag = REPORTING_TAG.split(":", 1)[1]
        nodes = manifest["nodes"]
        models = sorted(
            (n for n in nodes.values() if n["resource_type"] == "model" and tag in n.get("tags", [])),
            key=lambda n: n["unique_id"],
        )
        read_ids = sorted({uid for n in models for uid in n["depends_on"]["nodes"]})
        # The reporting models read models (the marts, dimensions and staging views), never a source.
        reads = [nodes[uid] for uid in read_ids]
        self._views = [(n["config"].get("schema"), n["alias"]) for n in models]
        # Per view what it reads; an ephemeral model as a name no relation has (its reads are not followed).
        self._reads_of = {
            (n["config"].get("schema"), n["alias"]): [
                (nodes[uid]["config"].get("schema"), nodes[uid]["alias"])
                if nodes[uid]["config"].get("materialized") != "ephemeral"
                else (None, f"ephemeral {uid}")
                for uid in n["depends_on"]["nodes"]
            ]
            for n in models
        }
        # An ephemeral model is no relation: its SQL is inlined, and its checksum is in the definition.
        self._reads = [(n["config"].get("schema"), n["alias"]) for n in reads
                       if n["config"].get("materialized") != "ephemeral"]  # fmt: skip
        project = manifest["metadata"].get("project_name")
        self._definition = {
            "dbt": manifest["metadata"].get("dbt_version"),
            "views": {n["unique_id"]: {k: n.get(k) for k in ("alias", "checksum", "config", "description", "columns",
                                                              "contract", "depends_on")}
                      for n in models},
            "reads": {n["unique_id"]: [n["alias"], n.get("checksum"), n["config"].get("schema"),
                                       n["config"].get("materialized")] for n in reads},
            "macros": {uid: m["macro_sql"] for uid, m in manifest["macros"].items() if m["package_name"] == project},
        }  # fmt: skip

    def relations(self, warehouse: Warehouse) -> tuple[list[Relation], list[Relation]]:
        """(the views, the relations they read) in this warehouse."""

        def place(custom: str | None, name: str) -> Relation:
            return (warehouse.schema_name if custom is None else f"{warehouse.schema_name}_{custom}", name)

        return [place(*v) for v in self._views], [place(*r) for r in self._reads]

    def reads_by_view(self, warehouse: Warehouse) -> dict[str, list[str]]:
        """Each view (`schema.name`) with the relations it reads, in this warehouse."""

        def place(custom: str | None, name: str) -> str:
            return f"{warehouse.schema_name if custom is None else f'{warehouse.schema_name}_{custom}'}.{name}"

        return {place(*v): [place(*r) for r in reads] for v, reads in self._reads_of.items()}

    def definition(self, warehouse: Warehouse) -> str:
        return _digest({**self._definition, "adapter": [warehouse.target, _adapter_version(warehouse.target)]})

    def state(self, warehouse: Warehouse) -> ViewsState:
        """The views' state in the warehouse now, with the recorded fingerprint (one connection)."""
        views, reads = self.relations(warehouse)
        schemas = sorted({s for s, _ in (*views, *reads)} | {warehouse.landing_schema})
        with warehouse.connect() as conn:
            cur = conn.cursor()
            relations, sql = catalog(cur, warehouse.target, schemas)
            recorded = None
            if (warehouse.landing_schema, BUILT.name) in relations:  # else never built by this step
                cur.execute(f"select fingerprint, parts from {warehouse.landing_schema}.{BUILT.name}")
                recorded = cur.fetchone()
        parts = json.loads(recorded[1]) if recorded and recorded[1] else None
        return ViewsState(
            definition=self.definition(warehouse),
            present=frozenset(r for r in reads if r in relations),
            views={v: sql.get(v) for v in views},
            # Parts that do not give the recorded fingerprint (edited by hand) are no record.
            recorded=parts if parts is not None and _digest(parts) == recorded[0] else None,
        )

    def forget(self, warehouse: Warehouse) -> None:
        """Before dbt starts: a build that fails half-way leaves no record to match."""
        warehouse.ensure_tables(warehouse.landing_schema, [BUILT])
        warehouse.execute(f"delete from {warehouse.landing_schema}.{BUILT.name}")

    def record(self, warehouse: Warehouse, before: ViewsState) -> ViewsState:
        """After dbt built every view: the fingerprint of the views now, over the relations dbt saw."""
        now = self.state(warehouse)
        built = ViewsState(before.definition, before.present, now.views)
        with warehouse.connect() as conn:
            cur = conn.cursor()
            cur.execute(f"delete from {warehouse.landing_schema}.{BUILT.name}")
            if built.fingerprint is not None:
                values = ", ".join(["?" if warehouse.target == "duckdb" else "%s"] * 3)
                row = [built.fingerprint, json.dumps(built.parts), datetime.now(UTC).replace(tzinfo=None)]
                cur.execute(f"insert into {warehouse.landing_schema}.{BUILT.name} values ({values})", row)
        return ViewsState(built.definition, built.present, built.views, built.parts)


def catalog(
    cur: Any, target: str, schemas: list[str], database: str | None = None
) -> tuple[set[Relation], dict[Relation, str]]:
    """The relations (tables and views) of these schemas in the current database (on DuckDB, or the attached
    `database`), and each view's SQL."""
    if target == "duckdb":
        listed = ", ".join("'" + s.replace("'", "''") + "'" for s in schemas)
        attached = "current_database()" if database is None else "'" + database.replace("'", "''") + "'"
        cur.execute(
            "select schema_name, table_name, null from duckdb_tables() "
            f"where database_name = {attached} and schema_name in ({listed}) "
            "union all select schema_name, view_name, sql from duckdb_views() "
            f"where database_name = {attached} and schema_name in ({listed}) and not internal"
        )
    else:
        cur.execute(
            "select n.nspname, c.relname, case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end "
            "from pg_class as c join pg_namespace as n on n.oid = c.relnamespace "
            "where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')",
            [schemas],
        )
    rows = cur.fetchall()
    return {(s, n) for s, n, _ in rows}, {(s, n): sql for s, n, sql in rows if sql is not None}
