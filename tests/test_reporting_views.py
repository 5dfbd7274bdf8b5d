"""When the last step of a job rebuilds the reporting views (orchestration/reporting/views.py), on DuckDB and
PostgreSQL: only when their definition, the relations they read or the views in the catalog differ from the
record of their last build. Over a warehouse's catalog and a manifest of one view; the jobs themselves are in
tests/test_reporting.py."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from tests.conftest import warehouse_of_env


def _manifest(checksum: str = "one") -> dict:
    """One reporting view over a table, a table not built yet and an ephemeral model (no relation)."""

    def model(name: str, materialized: str, custom_schema: str | None = None, **more) -> dict:
        return {"unique_id": f"model.p.{name}", "resource_type": "model", "name": name, "alias": name,
                # what the profile decides (dagster-dbt keeps the first manifest a process reads): not used
                "schema": "another_warehouses_schema", "relation_name": f"another.{name}",
                "tags": [], "checksum": {"name": "sha256", "checksum": name},
                "config": {"materialized": materialized, "schema": custom_schema},
                "depends_on": {"nodes": [], "macros": []}, **more}  # fmt: skip

    view = model("v", "view", "reporting", tags=["reporting"], description="the view",
                 depends_on={"nodes": ["model.p.a", "model.p.b", "model.p.e"], "macros": ["macro.p.m"]})  # fmt: skip
    view["checksum"] = {"name": "sha256", "checksum": checksum}
    nodes = [view, model("a", "table"), model("b", "incremental"), model("e", "ephemeral")]
    return {
        "metadata": {"dbt_version": "1.11.0", "adapter_type": "duckdb", "project_name": "p"},
        "nodes": {n["unique_id"]: n for n in nodes},
        "macros": {"macro.p.m": {"package_name": "p", "macro_sql": "{% macro m() %}1{% endmacro %}"}},
    }


@pytest.fixture
def catalog(pipeline_env: Path):
    """(warehouse, ReportingViews of the one-view manifest) with table a built, b not, and no view yet."""
    from orchestration.reporting.views import ReportingViews

    warehouse = warehouse_of_env()
    schema = warehouse.schema_name
    warehouse.execute(f"create schema if not exists {schema}; create schema if not exists {schema}_reporting")
    warehouse.execute(f"create table {schema}.a (x int)")
    return warehouse, ReportingViews(_manifest())


def _build(warehouse, views, sql: str = "select x from {s}.a") -> None:
    """What the step does when the views are not current: forget, build, record."""
    before = views.state(warehouse)
    views.forget(warehouse)
    s = warehouse.schema_name
    warehouse.execute(f"drop view if exists {s}_reporting.v")
    warehouse.execute(f"create view {s}_reporting.v as {sql.format(s=s)}")
    views.record(warehouse, before)


def test_current_only_after_a_recorded_build(catalog) -> None:
    warehouse, views = catalog
    s = warehouse.schema_name
    state = views.state(warehouse)
    assert not state.current and state.why_not_current() == f"missing: {s}_reporting.v"
    warehouse.execute(f"create view {s}_reporting.v as select x from {s}.a")  # built by other hands
    assert views.state(warehouse).why_not_current() == "no record of their last build"
    _build(warehouse, views)
    state = views.state(warehouse)
    assert state.current and state.why_not_current() == ""
    assert state.present == frozenset({(s, "a")})  # b is not built; e is ephemeral, no relation


def test_a_relation_built_for_the_first_time_makes_them_stale(catalog) -> None:
    """A view binds the marts that exist when dbt compiles it (macros/reporting/period_marts.sql)."""
    warehouse, views = catalog
    s = warehouse.schema_name
    _build(warehouse, views)
    warehouse.execute(f"create table {s}.b (x int)")
    state = views.state(warehouse)
    assert not state.current and state.why_not_current() == f"built since: {s}.b"
    _build(warehouse, views)
    assert views.state(warehouse).current
    warehouse.execute(f"drop table {s}.b")
    assert views.state(warehouse).why_not_current() == f"gone since: {s}.b"


def test_a_new_definition_makes_them_stale(catalog) -> None:
    from orchestration.reporting.views import ReportingViews

    warehouse, views = catalog
    _build(warehouse, views)
    manifest = _manifest()
    assert ReportingViews(manifest).state(warehouse).current
    changes = {
        "model": _manifest(checksum="two"),
        "description (a comment in the database)": copy.deepcopy(manifest),
        "macro": copy.deepcopy(manifest),
        "relation read": copy.deepcopy(manifest),
        "dbt": copy.deepcopy(manifest),
    }
    changes["description (a comment in the database)"]["nodes"]["model.p.v"]["description"] = "another"
    changes["macro"]["macros"]["macro.p.m"]["macro_sql"] = "{% macro m() %}2{% endmacro %}"
    changes["relation read"]["nodes"]["model.p.a"]["checksum"]["checksum"] = "a2"
    changes["dbt"]["metadata"]["dbt_version"] = "1.12.0"
    for what, changed in changes.items():
        state = ReportingViews(changed).state(warehouse)
        assert state.why_not_current() == "their definition changed (models, macros or dbt)", what


def test_a_view_dropped_or_replaced_by_other_hands_is_rebuilt(catalog) -> None:
    """PostgreSQL drops a view when dbt replaces a table under it (`drop ... cascade`)."""
    warehouse, views = catalog
    s = warehouse.schema_name
    _build(warehouse, views)
    warehouse.execute(f"drop view {s}_reporting.v")
    warehouse.execute(f"create view {s}_reporting.v as select x + 1 as x from {s}.a")
    assert views.state(warehouse).why_not_current() == f"changed in the catalog: {s}_reporting.v"
    _build(warehouse, views)
    if warehouse.target == "postgres":
        # as dbt replaces a table: the old one renamed away and dropped with cascade, which drops the view
        warehouse.execute(f"alter table {s}.a rename to a__dbt_backup")
        warehouse.execute(f"create table {s}.a (x int)")
        warehouse.execute(f"drop table {s}.a__dbt_backup cascade")
    else:
        warehouse.execute(f"drop view {s}_reporting.v")
    assert views.state(warehouse).why_not_current() == f"missing: {s}_reporting.v"


def test_a_failed_build_leaves_no_record(catalog) -> None:
    warehouse, views = catalog
    _build(warehouse, views)
    views.forget(warehouse)  # the step, before dbt starts; dbt then fails
    assert views.state(warehouse).why_not_current() == "no record of their last build"


# What the fingerprint leaves out: anything else dbt's compilation of the reporting models could read.
COMPILE_TIME_INPUTS = re.compile(r"\b(var|env_var|run_query|statement|load_result)\s*\(")


def test_the_reporting_models_compile_from_the_project_and_the_catalog_only() -> None:
    """The reporting models and every macro they call, down to the last one, read no variable, environment
    variable or query result while dbt compiles them: their SQL follows from the manifest and from which
    relations exist (load_relation), what the fingerprint covers."""
    from orchestration.dbt_project import REPORTING_TAG, read_manifest

    manifest = read_manifest()
    tag = REPORTING_TAG.split(":", 1)[1]
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and tag in n["tags"]]
    assert len(models) >= 5
    seen: set[str] = set()
    todo = [m for n in models for m in n["depends_on"]["macros"]]
    while todo:
        macro = todo.pop()
        if macro not in seen:
            seen.add(macro)
            todo += manifest["macros"][macro]["depends_on"]["macros"]
    assert "macro.service_commitments.period_marts" in seen
    for node in models:
        assert not COMPILE_TIME_INPUTS.search(node["raw_code"]), node["name"]
    for macro in seen:
        if manifest["macros"][macro]["package_name"] == manifest["metadata"]["project_name"]:
            assert not COMPILE_TIME_INPUTS.search(manifest["macros"][macro]["macro_sql"]), macro


def test_the_views_and_what_they_read_are_where_dbt_puts_them() -> None:
    """Placed from the warehouse's schema as generate_schema_name does: the relations the manifest parsed for
    this environment names."""
    from orchestration.dbt_project import read_manifest
    from orchestration.reporting.views import ReportingViews

    manifest = read_manifest()  # parsed for this environment's profile
    nodes = manifest["nodes"]
    views, reads = ReportingViews(manifest).relations(warehouse_of_env())
    models = sorted((n for n in nodes.values() if "reporting" in n["tags"] and n["resource_type"] == "model"),
                    key=lambda n: n["unique_id"])  # fmt: skip
    assert views == [(n["schema"], n["alias"]) for n in models]
    read = {nodes[u]["unique_id"] for n in models for u in n["depends_on"]["nodes"]}
    assert set(reads) == {(nodes[u]["schema"], nodes[u]["alias"]) for u in read
                          if nodes[u]["config"]["materialized"] != "ephemeral"}  # fmt: skip
    assert {s for s, _ in reads} == {warehouse_of_env().schema_name, warehouse_of_env().staging_schema}
