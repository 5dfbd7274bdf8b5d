"""A mistake in any configuration file or warehouse setting stops the load with one message that names
the file and line, the entry and what to write, or the environment variable to set (orchestration/errors.py
ConfigError) — never a traceback from deep inside a loader, and never a silent wrong result: a misspelt
segment or key used to fall back to a default commitment or an open-ended version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from orchestration.config_files import read_yaml
from orchestration.definitions import build_defs
from orchestration.errors import ConfigError
from orchestration.monitoring.config import load_alert_config
from orchestration.reference.calendars import load_calendars
from orchestration.reference.catalogue import load_catalogue
from orchestration.reference.commitments import load_commitments
from orchestration.settings import Settings
from orchestration.sources.config import load_source
from orchestration.warehouse import Warehouse
from tests.conftest import CONFIG_DIR, PG_ENV, PROJECT_DIR, warehouse_of_env

SHANGHAI = Settings.load({"COMMITMENTS_CONFIG_DIR": str(CONFIG_DIR)}).business_time_zone
DISPATCH_VIP = (
    "{process: BROADBAND, node: DISPATCH, segment: VIP, commitment: 1h, tolerance: 2h, valid_from: 2025-01-01"
)


def commitments(tmp_path: Path, text: str):
    """Load `text` as commitments.yaml against the project's catalogue and calendars."""
    path = tmp_path / "commitments.yaml"
    path.write_text(text, encoding="utf-8")
    catalogue = load_catalogue(CONFIG_DIR / "processes.yaml")
    calendars = load_calendars(date(2010, 1, 1), CONFIG_DIR / "calendars.yaml")
    return load_commitments(path, catalogue, calendars, SHANGHAI)


def message_of(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# --- probes: what used to be accepted, or fail with a traceback -------------------------------------


def test_a_commitment_for_an_unknown_segment_is_refused_with_the_known_segments(tmp_path: Path) -> None:
    # Before: accepted, so VIP DISPATCH runs were judged by the default (59.8% -> 86.1%).
    text = "commitments:\n  - " + DISPATCH_VIP.replace("VIP", "VIPP") + "}\n"
    assert message_of(commitments, tmp_path, text) == (
        f"{tmp_path}/commitments.yaml:2: commitments[0] (BROADBAND / DISPATCH / VIPP): unknown segment 'VIPP'; "
        "the segments of processes.yaml are 公众, VIP, 政企 (or * for the default): declare a new segment under "
        "`segments:` there"
    )
    assert len(commitments(tmp_path, "commitments:\n  - " + DISPATCH_VIP + "}\n")) == 1  # VIP itself is known


def test_a_misspelt_key_is_refused_instead_of_leaving_the_version_open_ended(tmp_path: Path) -> None:
    text = "commitments:\n  # the first version\n  - " + DISPATCH_VIP + ", vaild_to: 2026-01-01}\n"
    assert message_of(commitments, tmp_path, text) == (
        f"{tmp_path}/commitments.yaml:3: commitments[0]: unknown key 'vaild_to': did you mean 'valid_to'?"
    )


def test_a_key_given_twice_is_refused_instead_of_keeping_the_last(tmp_path: Path) -> None:
    line = "  - " + DISPATCH_VIP + ", valid_to: 2026-01-01, valid_to: 2027-01-01}\n"
    column = line.rindex("valid_to") + 1
    assert message_of(commitments, tmp_path, "commitments:\n" + line) == (
        f"{tmp_path}/commitments.yaml:2:{column}: duplicate key 'valid_to' (first given on line 2)"
    )
    # Block style, a top-level key repeated far apart: the second `commitments:` would replace the first.
    text = "commitments:\n  - " + DISPATCH_VIP + "}\nprocesses: []\ncommitments:\n  - " + DISPATCH_VIP + "}\n"
    assert message_of(commitments, tmp_path, text) == (
        f"{tmp_path}/commitments.yaml:4:1: duplicate key 'commitments' (first given on line 1)"
    )


def test_yaml_syntax_errors_name_file_line_and_column(tmp_path: Path) -> None:
    text = "commitments:\n  - " + DISPATCH_VIP + "\n"  # the closing brace is missing
    assert message_of(commitments, tmp_path, text) == (
        f"{tmp_path}/commitments.yaml:3:1: expected ',' or '}}', but got '<stream end>' (while parsing a flow mapping)"
    )
    text = "commitments:\n  - process: BROADBAND\n   node: DISPATCH\n"  # the second key is indented wrong
    assert message_of(commitments, tmp_path, text) == (
        f"{tmp_path}/commitments.yaml:3:4: expected <block end>, but found '<block mapping start>' "
        "(while parsing a block collection)"
    )


def test_an_empty_file_and_a_missing_top_level_key_name_the_file(tmp_path: Path) -> None:
    assert message_of(commitments, tmp_path, "# nothing yet\n") == f"{tmp_path}/commitments.yaml: the file is empty"
    # The entries without the key they belong under.
    assert message_of(commitments, tmp_path, "- " + DISPATCH_VIP + "}\n") == (
        f"{tmp_path}/commitments.yaml:1: the top-level key `commitments:` is missing: the file begins with "
        "`commitments:` and lists the entries under it"
    )
    assert message_of(commitments, tmp_path, "commitment:\n  - " + DISPATCH_VIP + "}\n") == (
        f"{tmp_path}/commitments.yaml:1: unknown key 'commitment': did you mean 'commitments'?"
    )
    assert message_of(commitments, tmp_path, "commitments:\n") == (
        f"{tmp_path}/commitments.yaml:1: commitments: Input should be a valid list (it is empty)"
    )


def test_an_invalid_date_names_its_position(tmp_path: Path) -> None:
    text = "commitments:\n  - " + DISPATCH_VIP.replace("2025-01-01", "2025-13-01") + "}\n"
    column = text.splitlines()[1].index("2025-13-01") + 1
    assert message_of(commitments, tmp_path, text) == (
        f"{tmp_path}/commitments.yaml:2:{column}: '2025-13-01' is not a valid date (month must be in 1..12)"
    )


def test_every_error_of_a_file_is_listed_with_its_line(tmp_path: Path) -> None:
    text = (
        "commitments:\n"
        "  - {process: BROADBAND, node: DISPATCH, commitment: 1h, tolerance: 2h}\n"
        "  - {process: BROADBAND, node: DISPATCH, commitment: [1h], tolerance: 2h, valid_from: 2025-01-01}\n"
    )
    assert message_of(commitments, tmp_path, text).splitlines() == [
        f"{tmp_path}/commitments.yaml:2: commitments[0]: the key `valid_from:` is missing",
        # int | float | str: the alternatives in one sentence
        f"{tmp_path}/commitments.yaml:3: commitments[1].commitment: Input should be a valid integer or a valid number "
        "or a valid string",
    ]


def test_a_wrong_time_zone_names_the_file_and_key_not_a_traceback(tmp_path: Path) -> None:
    source = tmp_path / "helpdesk.yaml"
    text = (CONFIG_DIR / "sources" / "helpdesk.yaml").read_text(encoding="utf-8")
    line = text.splitlines().index("time_zone: Europe/Rome") + 1
    source.write_text(text.replace("Europe/Rome", "Europe/Roma"), encoding="utf-8")
    assert message_of(load_source, source, Settings.load({"COMMITMENTS_CONFIG_DIR": str(CONFIG_DIR)})) == (
        f"{source}:{line}: time_zone: 'Europe/Roma' is not a time zone: use an IANA name such as Asia/Shanghai, "
        "Europe/Rome or UTC"
    )
    calendars = tmp_path / "calendars.yaml"
    calendars.write_text(
        "calendars:\n  plant:\n    time_zone: Berlin\n"
        "    versions: [{valid_from: 2026-01-01, working_hours: {mon: [08:00-16:00]}}]\n",
        encoding="utf-8",
    )
    assert message_of(load_calendars, date(2026, 1, 1), calendars) == (
        f"{calendars}:3: calendars.plant.time_zone: 'Berlin' is not a time zone: use an IANA name such as "
        "Asia/Shanghai, Europe/Rome or UTC"
    )


def test_the_definitions_load_fails_with_the_message_of_a_broken_file(tmp_path: Path) -> None:
    # Before: ZoneInfoNotFoundError from the source declaration failed the whole load with a traceback,
    # and a broken commitments file passed the load and failed only in reference_job.
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    source = config / "sources" / "helpdesk.yaml"
    source.write_text(source.read_text(encoding="utf-8").replace("Europe/Rome", "Europe/Roma"), encoding="utf-8")
    settings = Settings.load({"COMMITMENTS_CONFIG_DIR": str(config), "COMMITMENTS_DATA_DIR": str(tmp_path)})
    assert "helpdesk.yaml:11: time_zone: 'Europe/Roma' is not a time zone" in message_of(build_defs, settings)
    shutil.copy(CONFIG_DIR / "sources" / "helpdesk.yaml", source)
    (config / "commitments.yaml").write_text("commitments:\n  - " + DISPATCH_VIP + ", clock: cn_ofice}\n")
    assert message_of(build_defs, settings) == (
        f"{config}/commitments.yaml:2: commitments[0] (BROADBAND / DISPATCH / VIP): clock 'cn_ofice' is neither "
        "'wall' nor a calendar of calendars.yaml (calendars: cn_office)"
    )


# --- the other files ---------------------------------------------------------------------------------


def test_catalogue_codes_are_declared_once(tmp_path: Path) -> None:
    path = tmp_path / "processes.yaml"
    node = "{code: FIX, name: 修复, department: 维护中心, position: 工程师}"
    process = "code: REPAIR\n    name: 修复\n    owner_department: 网络部"
    path.write_text(f"segments: [VIP, 公众, VIP]\nprocesses:\n  - {process}\n    nodes: [{node}]\n")
    assert message_of(load_catalogue, path) == f"{path}:1: segments[2]: segment 'VIP' is declared twice"
    path.write_text(f"processes:\n  - {process}\n    nodes: [{node}, {node}]\n")
    assert message_of(load_catalogue, path) == (
        f"{path}:5: processes[0].nodes[1].code: node 'FIX' of process REPAIR is declared twice"
    )
    path.write_text(f"processes:\n  - {process}\n    nodes: [{node.replace('FIX', repr('*'))}]\n")
    assert message_of(load_catalogue, path) == (
        f"{path}:5: processes[0].nodes[0].code: '*' means any node; it cannot be a code"
    )


def test_a_source_maps_segments_onto_the_catalogue_only(tmp_path: Path) -> None:
    source = tmp_path / "ticket_api.yaml"
    text = (CONFIG_DIR / "sources" / "ticket_api.yaml").read_text(encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if row.startswith("segments:"))
    source.write_text(text.replace("VIP: VIP", "VIP: VIPP"), encoding="utf-8")
    assert message_of(load_source, source, Settings.load({"COMMITMENTS_CONFIG_DIR": str(CONFIG_DIR)})) == (
        f"{source}:{line}: segments.VIP: maps 'VIP' onto 'VIPP', which is not a segment of processes.yaml "
        "(segments: 公众, VIP, 政企)"
    )


def test_an_alerts_file_names_the_misspelt_key_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    text = (CONFIG_DIR / "alerts.yaml").read_text(encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if row.startswith("  - {process: HELPDESK"))
    path.write_text(text.replace("early_notice: null, escalate", "early_notice: null, escalte"), encoding="utf-8")
    settings = Settings.load({"COMMITMENTS_CONFIG_DIR": str(CONFIG_DIR)})
    assert message_of(load_alert_config, settings, path) == (
        f"{path}:{line}: rules[1]: unknown key 'escalte': did you mean 'escalate'?"
    )


def test_an_alert_rule_names_catalogue_codes(tmp_path: Path) -> None:
    # A misspelt process matched no run, so its runs silently fell to the catch-all rule.
    path = tmp_path / "alerts.yaml"
    text = (CONFIG_DIR / "alerts.yaml").read_text(encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if row.startswith("  - {process: HELPDESK"))
    path.write_text(text.replace("{process: HELPDESK,", "{process: HELPDSK,"), encoding="utf-8")
    settings = Settings.load({"COMMITMENTS_CONFIG_DIR": str(CONFIG_DIR)})
    assert message_of(load_alert_config, settings, path) == (
        f"{path}:{line}: rules[1] (HELPDSK / * / *): unknown process 'HELPDSK' (processes: REMUNERATION, "
        "BROADBAND, COMPLAINT, HELPDESK)"
    )
    path.write_text(text.replace("{process: HELPDESK,", "{process: BROADBAND, segment: VIPP,"), encoding="utf-8")
    assert message_of(load_alert_config, settings, path) == (
        f"{path}:{line}: rules[1] (BROADBAND / * / VIPP): unknown segment 'VIPP' (segments: 公众, VIP, 政企)"
    )


def test_a_missing_file_says_how_to_point_at_it(tmp_path: Path) -> None:
    path = tmp_path / "commitments.yaml"
    assert message_of(load_commitments, path, None, {}, SHANGHAI) == (
        f"{path}: no such file; set COMMITMENTS_FILE, or put commitments.yaml in the configuration directory "
        "(COMMITMENTS_CONFIG_DIR)"
    )
    assert message_of(read_yaml, tmp_path / "x.yaml") == f"{tmp_path}/x.yaml: no such file"


# --- warehouse settings ---------------------------------------------------------------------------------


def warehouse(**environ: str) -> Warehouse:
    return Warehouse.from_settings(Settings.load({"COMMITMENTS_CONFIG_DIR": str(CONFIG_DIR)}), environ)


def test_a_wrong_warehouse_target_names_the_variable_and_the_choices() -> None:
    assert message_of(warehouse, WAREHOUSE_TARGET="postgresql") == (
        "WAREHOUSE_TARGET='postgresql' is not a warehouse: set WAREHOUSE_TARGET to duckdb or postgres "
        "(unset means duckdb)"
    )


def test_postgres_without_connection_settings_fails_with_what_to_set() -> None:
    # Before: host 127.0.0.1, user postgres and database `test`, silently (a development database).
    assert message_of(warehouse, WAREHOUSE_TARGET="postgres", PGHOST="db.internal") == (
        "WAREHOUSE_TARGET=postgres needs the connection in the environment: set PGUSER, PGDATABASE "
        "(PGPORT defaults to 5432; PGPASSWORD if the server asks for one), e.g. PGHOST=127.0.0.1 PGUSER=postgres "
        "PGDATABASE=commitments"
    )
    assert message_of(warehouse, WAREHOUSE_TARGET="postgres", **{**PG_ENV, "PGPORT": "5432x"}) == (
        "PGPORT='5432x' is not a port: set PGPORT to a number from 1 to 65535 (default 5432)"
    )
    named = warehouse(WAREHOUSE_TARGET="postgres", PGHOST="db.internal", PGUSER="etl", PGDATABASE="prod")
    assert (named.pg_host, named.pg_port, named.pg_user, named.pg_database) == ("db.internal", 5432, "etl", "prod")
    with pytest.raises(ConfigError, match="a PostgreSQL warehouse needs its connection: set PGHOST, PGUSER"):
        Warehouse(target="postgres").query("select 1")


def test_the_duckdb_path_must_name_a_file(tmp_path: Path) -> None:
    assert message_of(warehouse, WAREHOUSE_DUCKDB_PATH=str(tmp_path)) == (
        f"WAREHOUSE_DUCKDB_PATH={str(tmp_path)!r} is a directory: set it to the database file, e.g. "
        f"{tmp_path}/warehouse.duckdb"
    )


def test_duckdb_gets_the_memory_limit_the_environment_sets_here_and_in_dbt(tmp_path: Path, monkeypatch) -> None:
    """A run's process holds the warehouse's DuckDB (its connections and dbt's) beside pandas and GX: a
    deployment that shares the machine sets DuckDB's memory for both (SET on each connection, not a connection
    configuration, which every other connection to the file in the process would have to repeat); a value
    that is no amount is refused before anything opens."""
    from orchestration.dbt_runner import dbt_in_process

    assert message_of(warehouse, WAREHOUSE_DUCKDB_MEMORY_LIMIT="half") == (
        "WAREHOUSE_DUCKDB_MEMORY_LIMIT='half' is not an amount of memory: e.g. 80% of RAM (the default), 4GB or 8GiB"
    )
    assert warehouse().duckdb_memory_limit == "80%" and warehouse(WAREHOUSE_DUCKDB_MEMORY_LIMIT="50%")
    monkeypatch.setenv("WAREHOUSE_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("WAREHOUSE_DUCKDB_MEMORY_LIMIT", "300MB")
    pipeline = Warehouse.from_settings(Settings.load({**os.environ, "COMMITMENTS_CONFIG_DIR": str(CONFIG_DIR)}))
    setting = "select current_setting('memory_limit') as limit_"
    assert pipeline.query(setting).limit_.tolist() == ["286.1 MiB"]  # 300 MB in DuckDB's units
    shown = dbt_in_process("show", "--inline", setting)
    assert [tuple(r) for r in shown.result.results[0].agate_table.rows] == [("286.1 MiB",)]
    assert pipeline.query(setting).limit_.tolist() == ["286.1 MiB"]


def test_the_schema_must_be_an_identifier_before_it_reaches_sql() -> None:
    # Before: pasted into SQL; with `quality list` this really dropped fct_node_runs.
    for schema in ("commitments; drop table commitments.fct_node_runs; --", "Commitments", "1st", "a" * 56):
        assert message_of(warehouse, WAREHOUSE_SCHEMA=schema) == (
            f"WAREHOUSE_SCHEMA={schema!r} is not a schema name: set WAREHOUSE_SCHEMA to lower-case letters, "
            "digits and underscores, starting with a letter or underscore, at most 55 characters (e.g. commitments)"
        )
    assert warehouse(WAREHOUSE_SCHEMA="t_0123456789").landing_schema == "t_0123456789_landing"


def test_a_warehouse_built_around_the_settings_refuses_a_bad_schema_on_both_targets(pipeline_env: Path) -> None:
    """The tests' own environment names the warehouse in full (tests/conftest.py), and a resource built
    directly, bypassing the settings, still never sends a bad schema name to the database."""
    good = warehouse_of_env()
    assert good.query("select 1 as one").one.tolist() == [1]
    bad = good.model_copy(update={"schema_name": "x; drop schema public cascade; --"})
    with pytest.raises(ConfigError, match="WAREHOUSE_SCHEMA='x; drop schema public cascade; --' is not a schema"):
        bad.query("select 1")


def test_the_main_command_prints_one_message_and_generates_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "COMMITMENTS_DATA_DIR": str(tmp_path), "WAREHOUSE_TARGET": "postgres"}
    for variable in PG_ENV:
        env.pop(variable, None)
    done = subprocess.run(
        [sys.executable, "-m", "demo.main", "--days", "1"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "configuration error: WAREHOUSE_TARGET=postgres needs the connection in the environment: set PGHOST, PGUSER, "
        "PGDATABASE (PGPORT defaults to 5432; PGPASSWORD if the server asks for one), e.g. PGHOST=127.0.0.1 "
        "PGUSER=postgres PGDATABASE=commitments"
    )
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # stopped before generating the demo sources


def test_dagster_shows_the_message_not_the_loaders_traceback(tmp_path: Path) -> None:
    """`dagster dev` and `dagster definitions validate` load orchestration.definitions: the error they show
    is the message, then one line of definitions.py, none of the loaders' frames."""
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    text = (config / "commitments.yaml").read_text(encoding="utf-8")
    (config / "commitments.yaml").write_text(
        text.replace("segment: VIP,  commitment: 1h", "segment: VIPP, commitment: 1h")
    )
    env = {**os.environ, "COMMITMENTS_CONFIG_DIR": str(config), "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m", "orchestration.definitions"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert (
        f"orchestration.errors.ConfigError: {config}/commitments.yaml:22: commitments[8] "
        "(BROADBAND / DISPATCH / VIPP): unknown segment 'VIPP'"
    ) in output
    assert "orchestration/reference" not in output and output.count('File "') == 1
