"""The Great Expectations resource on DuckDB and PostgreSQL: a suite from expectations/ validates exactly
the rows of the window, and a failure reports which expectations failed, how many rows, sample values
and a Data Docs page; a blocking landing check fails with it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetCheckSeverity

from orchestration.landing.batch import ensure_landing
from orchestration.landing.tables import INTERVAL_RUNS
from orchestration.periods import Window
from orchestration.quality.gx import GreatExpectations
from orchestration.warehouse import Warehouse
from tests.conftest import settings_of_env, warehouse_of_env

DAY, OTHER_DAY = dt.date(2026, 10, 24), dt.date(2026, 10, 25)


def gx() -> GreatExpectations:
    return GreatExpectations.from_settings(settings_of_env())


def _runs(day: dt.date, keys: list[str], nodes: list[str], starts: list[str], ends: list[str | None]) -> pd.DataFrame:
    n = len(keys)
    return pd.DataFrame(
        {
            "source_system": "settlement_files",
            "partition_date": pd.Timestamp(day).as_unit("us"),
            "extracted_at": pd.Timestamp("2026-10-26").as_unit("us"),
            "source_row_key": keys,
            "work_order_id": [f"JS-{k}" for k in keys],
            "process_code": "REMUNERATION",
            "node_code": nodes,
            "segment": ["VIP"] * n,
            "department": ["财务部"] * n,
            "position": ["出纳"] * n,
            "start_at": pd.to_datetime(starts).astype("datetime64[us]"),
            "end_at": pd.to_datetime(pd.Series(ends)).astype("datetime64[us]"),
            "cancelled_at": pd.Series([pd.NaT] * n, dtype="datetime64[us]"),
        }
    )[INTERVAL_RUNS.column_names]


@pytest.fixture
def warehouse(pipeline_env: Path) -> Warehouse:
    warehouse = warehouse_of_env()
    ensure_landing(warehouse)
    good = _runs(DAY, ["a", "b"], ["PAY", "COLLECT"], ["2026-10-24 01:00"] * 2, ["2026-10-24 02:00", None])
    # Rows that break the suite, in another partition: a window that excludes them must not see them.
    bad = _runs(
        OTHER_DAY, ["c", "c", "d"], ["PAY", "PAY", "QC"], ["2026-10-25 03:00"] * 3, ["2026-10-25 02:00", None, None]
    )
    tz = settings_of_env().business_time_zone
    for day, rows in ((DAY, good), (OTHER_DAY, bad)):
        where = Window.for_days(day, day, tz).partition_filter("settlement_files")
        warehouse.replace_where(INTERVAL_RUNS.name, where, rows)
    return warehouse


def _validate(warehouse: Warehouse, day: dt.date):
    return gx().validate(
        warehouse,
        gx().suite_for_source("settlement_files", "intervals"),
        f"{warehouse.landing_schema}.{INTERVAL_RUNS.name}",
        Window.for_days(day, day, settings_of_env().business_time_zone).partition_filter("settlement_files"),
        batch="landing__settlement_files",
    )


def test_suite_passes_on_the_window_and_fails_with_details(warehouse: Warehouse) -> None:
    suite = json.loads(
        (settings_of_env().expectations_dir / "landing__settlement_files.json").read_text(encoding="utf-8")
    )
    passed = _validate(warehouse, DAY)
    assert passed.success and passed.evaluated == len(suite["expectations"]) and not passed.failed

    failed = _validate(warehouse, OTHER_DAY)
    assert not failed.success
    by_kind = {(f["expectation"], f["column"]): f for f in failed.failed}
    assert set(by_kind) == {
        ("expect_column_values_to_be_in_set", "node_code"),
        ("expect_compound_columns_to_be_unique", "partition_date, source_row_key"),
        ("expect_column_pair_values_a_to_be_greater_than_b", "end_at, start_at"),
    }
    node = by_kind[("expect_column_values_to_be_in_set", "node_code")]
    assert node["unexpected_count"] == 1 and node["sample_values"] == "QC"
    assert by_kind[("expect_compound_columns_to_be_unique", "partition_date, source_row_key")]["unexpected_count"] == 2

    result = failed.check_result("gx_landing")
    assert not result.passed and result.severity == AssetCheckSeverity.ERROR
    table = result.metadata["failed_expectations"].value
    assert "expect_column_values_to_be_in_set" in table and "QC" in table
    docs = Path(result.metadata["data_docs"].value.removeprefix("file://"))
    assert docs.is_file() and docs.suffix == ".html" and "node_code" in docs.read_text(encoding="utf-8")


def test_a_validation_reads_the_window_once_per_expectation_and_leaves_nothing_behind(
    warehouse: Warehouse, monkeypatch
) -> None:
    """On PostgreSQL GX reads the window through a view of its own (given the query itself, it ran it whole to
    learn its columns, fetching every row), dropped after the validation, failed or raised; on DuckDB it gets
    pandas frames and nothing is created in the warehouse."""
    import sqlalchemy as sa

    fetched: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        fetched.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", note)
    try:
        assert not _validate(warehouse, OTHER_DAY).success
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", note)

    def views() -> int:
        (count,) = warehouse.execute(
            "select count(*) from information_schema.tables where table_schema = %s", [warehouse.checks_schema]
        )[0]
        return int(count)

    assert views() == 0
    if warehouse.target == "postgres":
        assert fetched and not [s for s in fetched if s.lstrip().lower().startswith("select") and "limit" not in
                                s.lower() and "from " + warehouse.landing_schema in s.lower()]  # fmt: skip
        monkeypatch.setattr("orchestration.quality.gx._run", lambda *args: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            _validate(warehouse, OTHER_DAY)
        assert views() == 0
    else:
        assert not fetched


def test_a_source_without_its_own_suite_gets_its_shapes() -> None:
    assert gx().suite_for_source("settlement_files", "intervals") == "landing__settlement_files"
    assert gx().suite_for_source("bad_http", "status_history") == "landing__status_history"
    names = {p.stem for p in settings_of_env().expectations_dir.glob("*.json")}
    marts = {"node_run_states", "work_order_status", "achievement_rates"}
    assert {"fct_node_runs", "landing__intervals", "landing__status_history"} | marts <= names


def test_data_docs_links_open_over_http(tmp_path: Path) -> None:
    """With COMMITMENTS_GX_DOCS_URL set (`make dev` serves the site there), a check's Data Docs link is an
    http address of the page, which a browser opens from the Dagster UI; without it, the file:// link."""
    import functools
    import threading
    import urllib.request
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from orchestration.quality.gx import GreatExpectations

    page = (
        GreatExpectations(root_dir=str(tmp_path), expectations_dir=str(tmp_path)).docs_site() / "validations" / "v.html"
    )
    page.parent.mkdir(parents=True)
    page.write_text("<html>node_code</html>", encoding="utf-8")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(page.parent.parent))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        served = GreatExpectations(root_dir=str(tmp_path), expectations_dir=str(tmp_path), docs_base_url=base)
        link = served.served(page.as_uri())
        assert link == f"{base}validations/v.html"
        with urllib.request.urlopen(link, timeout=10) as response:
            assert response.status == 200 and b"node_code" in response.read()
        server.shutdown()
    plain = GreatExpectations(root_dir=str(tmp_path), expectations_dir=str(tmp_path))
    assert plain.served(page.as_uri()) == page.as_uri()


def test_only_the_columns_a_suite_reads_are_fetched() -> None:
    """A mart's window reaches GX with the suite's columns only (on DuckDB as a pandas frame: the memory of a
    run), and the whole row when an expectation reads the whole row."""
    from orchestration.quality.gx import _suite_columns

    suite = json.loads((settings_of_env().expectations_dir / "node_run_states.json").read_text(encoding="utf-8"))
    columns = _suite_columns(suite["expectations"])
    assert columns.split(", ") == [
        f'"{c}"'
        for c in [
            "period_node_run_id",
            "node_run_id",
            "period_id",
            "state",
            "run_status",
            "band",
            "run_seconds",
            "as_of",
            "start_at",
        ]  # fmt: skip
    ]
    landing = json.loads((settings_of_env().expectations_dir / "landing__intervals.json").read_text(encoding="utf-8"))
    assert '"source_row_key"' in _suite_columns(landing["expectations"])  # from a compound column_list
    assert (
        _suite_columns([*suite["expectations"], {"type": "expect_table_row_count_to_be_between", "kwargs": {}}]) == "*"
    )


def test_a_window_validated_in_slices_reports_as_the_whole(warehouse: Warehouse, monkeypatch) -> None:
    """On DuckDB a window larger than slice_rows reaches GX as several pandas frames, none the whole window; the
    verdict is the window's: duplicates in separate slices are none (the slicing column is in every uniqueness
    key), and each failed expectation counts its rows over all slices."""
    whole = _validate(warehouse, OTHER_DAY)
    frames: list[int] = []
    query = Warehouse.query

    def counted(self: Warehouse, sql: str) -> pd.DataFrame:
        frame = query(self, sql)
        frames.append(len(frame))
        return frame

    monkeypatch.setattr(Warehouse, "query", counted)
    sliced = (
        gx()
        .model_copy(update={"slice_rows": 1})
        .validate(
            warehouse,
            "landing__settlement_files",
            f"{warehouse.landing_schema}.{INTERVAL_RUNS.name}",
            Window.for_days(OTHER_DAY, OTHER_DAY, settings_of_env().business_time_zone).partition_filter(
                "settlement_files"
            ),
            batch="landing__settlement_files",
        )
    )
    assert not sliced.success and sliced.evaluated == whole.evaluated

    def counts(outcome):
        return {(f["expectation"], f["column"]): f["unexpected_count"] for f in outcome.failed}

    assert counts(sliced) == counts(whole)
    assert counts(sliced)[("expect_compound_columns_to_be_unique", "partition_date, source_row_key")] == 2
    if warehouse.target == "duckdb":
        assert len(frames) == 3 and sum(frames) == 3 and max(frames) < 3
    assert sliced.docs_url and sliced.docs_url.endswith(".html")


@pytest.mark.parametrize(
    ("suite", "column"),
    [
        ("landing__status_history", "source_row_key"),
        ("node_run_states", "period_node_run_id"),
        ("achievement_rates", "achievement_rate_id"),
        ("fct_node_runs", "work_order_id"),
    ],
)
def test_the_slicing_column_is_in_every_uniqueness_key(suite: str, column: str) -> None:
    from orchestration.quality.gx import slicing_column

    spec = json.loads((settings_of_env().expectations_dir / f"{suite}.json").read_text(encoding="utf-8"))
    assert slicing_column(spec) == column
    keys = [
        e["kwargs"].get("column_list") or [e["kwargs"]["column"]] for e in spec["expectations"] if "unique" in e["type"]
    ]
    # fct_node_runs' node_run_id is derived from its work order (the suite's meta says so); every other key holds it
    assert all(column in key for key in keys) or spec["meta"].get("slice_by") == column
    assert (
        slicing_column({"expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}]})
        is None
    )


def test_checks_starting_together_share_the_views_schema(warehouse: Warehouse) -> None:
    """Checks run side by side on PostgreSQL: two validations creating the views' schema at once (PostgreSQL's
    `create schema if not exists` then fails on the catalogue's unique index for one of them, about one call
    in seven here) must both go on."""
    import threading

    from orchestration.quality.gx import _ensure_schema

    errors: list[BaseException] = []

    def create() -> None:
        try:
            _ensure_schema(warehouse, warehouse.checks_schema)
        except Exception as error:  # noqa: BLE001 - collected for the assertion below
            errors.append(error)

    for _ in range(20):
        warehouse.execute(f"drop schema if exists {warehouse.checks_schema} cascade")
        threads = [threading.Thread(target=create) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert warehouse.execute(
        "select 1 from information_schema.schemata where schema_name = %s", [warehouse.checks_schema]
    )


# Rows breaking each expectation type the suites use, with the nulls and ties each type treats its own way.
_EDGES = """
    ('x', 'p', 'q',  'ok',   0,    '2026-01-01 10:00', '2026-01-01 10:00', 'n'),
    ('x', 'p', 'q',  'bad',  1,    '2026-01-01 09:00', '2026-01-01 10:00', null),
    ('y', null, null, null,  -0.5, null,               '2026-01-01 10:00', 'n'),
    (null, null, null, 'fine', 2,  '2026-01-01 11:00', null,               'n'),
    (null, 'p', null, 'BAD', null, '2026-01-01 08:00', '2026-01-01 12:00', null),
    ('z', 'r', null, 'ok',   0.5,  '2026-01-01 12:00', '2026-01-01 08:00', 'n')
"""
_EDGE_SUITE = [
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "key"}},
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["k1", "k2"]}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "state", "value_set": ["ok", "fine"]}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "num", "min_value": 0, "max_value": 1}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "num", "min_value": 0}},
    {
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {"column_A": "a", "column_B": "b", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
    },
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "nn"}},
]


@pytest.fixture
def edges(warehouse: Warehouse) -> Iterator[str]:
    """A table of _EDGES in the checks schema."""
    from orchestration.quality.gx import _ensure_schema

    _ensure_schema(warehouse, warehouse.checks_schema)
    table = f"{warehouse.checks_schema}.edges"
    warehouse.execute(f"drop table if exists {table}")
    warehouse.execute(
        f"create table {table} (key varchar, k1 varchar, k2 varchar, state varchar, num double precision,"
        " a timestamp, b timestamp, nn varchar)"
    )
    warehouse.execute(f"insert into {table} values {_EDGES}")
    yield table
    warehouse.execute(f"drop table {table}")


def _suite_file(directory: Path, name: str, expectations: list[dict]) -> GreatExpectations:
    """The GX resource with one suite, `name`, in `directory`."""
    (directory / f"{name}.json").write_text(json.dumps({"name": name, "expectations": expectations}), encoding="utf-8")
    return gx().model_copy(update={"expectations_dir": str(directory)})


def test_the_verdicts_in_sql_count_what_great_expectations_counts(
    warehouse: Warehouse, edges: str, tmp_path: Path
) -> None:
    """Windows are judged by the suite's verdicts in SQL, and GX validates only a window they fail: so the SQL
    must find unexpected exactly the rows GX finds, type by type, nulls and ties included, on both warehouses;
    an expectation it does not know (or an option such as `mostly`) is left to GX."""
    from orchestration.quality import suite_sql

    table = edges
    window = f"select * from {table} where true"
    checker = _suite_file(tmp_path, "edges", _EDGE_SUITE)
    named = [(e["type"], e["kwargs"].get("column") or ", ".join(e["kwargs"].get("column_list") or ["a", "b"]))
             for e in _EDGE_SUITE]  # fmt: skip

    def agree(expected: list[int]) -> None:
        in_sql = suite_sql.unexpected_counts(warehouse, _EDGE_SUITE, window)
        assert in_sql == expected
        by_gx = checker.validate(warehouse, "edges", table, "true", batch="edges")
        assert not by_gx.success and by_gx.validated_by == "Great Expectations"
        assert sorted((f["expectation"], f["column"], f["unexpected_count"]) for f in by_gx.failed) == sorted(
            (*name, count) for name, count in zip(named, in_sql, strict=True)
        )

    agree([2, 2, 2, 2, 1, 2, 2])
    # A compound key repeated with a null in it: GX's pandas engine (DuckDB's) counts it, its SQL engine
    # (PostgreSQL's) ignores the rows. The verdicts in SQL count it, the stricter, so such a window goes to GX.
    warehouse.execute(f"insert into {table} values ('w', 'p', null, 'ok', 0, null, null, 'n')")
    assert suite_sql.unexpected_counts(warehouse, _EDGE_SUITE, window)[1] == 4
    if warehouse.target == "duckdb":
        agree([2, 4, 2, 2, 1, 2, 2])

    mostly = [{**_EDGE_SUITE[-1], "kwargs": {"column": "nn", "mostly": 0.5}}]
    assert suite_sql.unexpected_counts(warehouse, mostly, window) is None
    unknown = [{"type": "expect_column_values_to_match_regex", "kwargs": {"column": "nn", "regex": "n"}}]
    assert suite_sql.unexpected_counts(warehouse, unknown, window) is None
    missing = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}}]
    assert suite_sql.unexpected_counts(warehouse, missing, window) is None


def test_a_window_passing_the_verdicts_in_sql_is_not_read_by_gx_and_links_the_suite(
    warehouse: Warehouse, monkeypatch
) -> None:
    """A window the suite's verdicts in SQL pass is not read by GX: the check says so and links the suite's Data
    Docs page (what was expected)."""
    from orchestration.quality.gx import IN_SQL

    with monkeypatch.context() as patched:
        patched.setattr(GreatExpectations, "_validate_with_gx", lambda *args: 1 / 0)
        passed = _validate(warehouse, DAY)
    assert passed.success and not passed.failed and passed.validated_by == IN_SQL
    page = Path(passed.docs_url.removeprefix("file://"))
    assert page.parent.name == "expectations" and "node_code" in page.read_text(encoding="utf-8")
    assert passed.check_result("gx_landing").metadata["validated_by"].value == IN_SQL


def test_where_the_verdicts_in_sql_are_stricter_than_gx_its_verdict_stands(
    warehouse: Warehouse, edges: str, tmp_path: Path
) -> None:
    """Rows repeating a compound key with a null in it fail the verdicts in SQL, so GX validates the window: on
    PostgreSQL its SQL engine ignores those rows and passes it, on DuckDB its pandas engine counts them."""
    checker = _suite_file(tmp_path, "pairs", [_EDGE_SUITE[1]])
    warehouse.execute(f"insert into {edges} values ('w', 'p', null, 'ok', 0, null, null, 'n')")
    outcome = checker.validate(warehouse, "pairs", edges, "k2 is null", batch="pairs")
    assert outcome.validated_by == "Great Expectations"
    if warehouse.target == "postgres":
        assert outcome.success
    else:
        assert [(f["column"], f["unexpected_count"]) for f in outcome.failed] == [("k1, k2", 2)]
