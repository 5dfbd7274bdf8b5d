"""The dbt project's manifest per warehouse profile (orchestration/dbt_project.py): each profile's manifest
names its own schema, and is parsed once, not again by every process or test that loads the definitions."""

from __future__ import annotations

import json
import uuid

import pytest

from orchestration import dbt_project


def _landing_schema(manifest: dict) -> str:
    return next(s["schema"] for s in manifest["sources"].values() if s["source_name"] == "landing")


def test_each_profile_has_its_own_manifest_parsed_once(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    parses: list[str] = []
    parse = dbt_project._parse
    monkeypatch.setattr(dbt_project, "_parse", lambda target: parses.append(str(target)) or parse(target))
    monkeypatch.setenv("WAREHOUSE_TARGET", "duckdb")
    monkeypatch.setenv("WAREHOUSE_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    schemas = [f"t_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    paths = []
    for schema in schemas:
        monkeypatch.setenv("WAREHOUSE_SCHEMA", schema)
        paths.append(dbt_project.ensure_manifest())
        assert _landing_schema(dbt_project.read_manifest()) == f"{schema}_landing"
    assert len(parses) == 2 and paths[0] != paths[1]

    # Back to the first profile: its manifest is current, read as it is (another test's profile in between
    # used to make every process parse the whole project again).
    monkeypatch.setenv("WAREHOUSE_SCHEMA", schemas[0])
    written = paths[0].stat().st_mtime_ns
    assert dbt_project.ensure_manifest() == paths[0] and len(parses) == 2
    assert paths[0].stat().st_mtime_ns == written
    assert _landing_schema(json.loads(paths[0].read_text(encoding="utf-8"))) == f"{schemas[0]}_landing"


def test_the_profile_is_what_the_target_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable the active target does not read leaves its manifest as it is (the tests' PostgreSQL half
    sets a data dir per test); one it reads gives another manifest."""
    monkeypatch.setenv("WAREHOUSE_TARGET", "postgres")
    monkeypatch.setenv("WAREHOUSE_SCHEMA", "s")
    monkeypatch.setenv("COMMITMENTS_DATA_DIR", "/one")
    postgres = dbt_project.profile_dir()
    monkeypatch.setenv("COMMITMENTS_DATA_DIR", "/two")
    monkeypatch.setenv("WAREHOUSE_DUCKDB_PATH", "/two/w.duckdb")
    assert dbt_project.profile_dir() == postgres
    monkeypatch.setenv("PGHOST", "elsewhere")
    assert dbt_project.profile_dir() != postgres

    monkeypatch.setenv("WAREHOUSE_TARGET", "duckdb")
    monkeypatch.delenv("WAREHOUSE_DUCKDB_PATH")
    in_two = dbt_project.profile_dir()
    monkeypatch.setenv("COMMITMENTS_DATA_DIR", "/one")  # the database file's default directory
    assert dbt_project.profile_dir() != in_two


def test_behaviour_flags_name_their_declaring_module_without_reading_the_stack_source() -> None:
    """dbt names the module that declared an adapter's behaviour flag in its warnings; the cheap lookup
    (orchestration/dbt_project.py) names the same one dbt's inspect.stack() does."""
    from dbt_common.behavior_flags import Behavior

    from orchestration.dbt_project import cheap_behavior_flag_source

    flag = {"name": "t_flag", "default": False, "description": "a test flag"}
    cheap_behavior_flag_source()
    # the first caller outside dbt_common.behavior_flags: here, this test module, as inspect.stack() finds
    assert Behavior([flag], {})._flags[0]._behavior_change_event.flag_source == __name__
    assert Behavior.__init__.__module__ == "dbt_common.behavior_flags" != __name__  # not the flags' own module
