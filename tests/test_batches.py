"""A source's window read, normalised and landed in batches (`batch_rows`) gives exactly what one batch
gives: the same landed rows, the same quarantined rows and reasons, the same extraction log, on DuckDB and
PostgreSQL, for a file, a SQL (MariaDB, PostgreSQL) and an HTTP source. The rules that look across rows
(an exact duplicate in another batch, the order of delivery, overlapping runs of an interval source) see
the whole window. A failure in a later batch leaves the previous load of the window whole."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from demo import generator as gen
from demo.ticket_api_server import serve_in_background
from orchestration.landing.batch import _written_behind, ensure_landing, extract_batches, land_batches
from orchestration.landing.normalise import normalise
from orchestration.landing.rules import SeenRows, row_hashes
from orchestration.landing.tables import EXTRACTION_LOG, LANDING_BY_SHAPE, QUARANTINE
from orchestration.periods import Window
from orchestration.quality.checks import ROWS_RECONCILE
from orchestration.quality.gate import extract_and_check
from orchestration.reference.catalogue import Catalogue, load_catalogue
from orchestration.sources.config import SourceConfig, load_source
from orchestration.sources.errors import SourceRejected
from orchestration.sources.file import FileDropError
from orchestration.sources.read import _read_ahead, read_batches
from orchestration.warehouse import Warehouse
from tests.conftest import (
    CONFIG_DIR,
    MARIADB_HOST,
    MARIADB_PORT,
    PG_HOST,
    PG_PORT,
    require_server,
    settings_of_env,
    warehouse_of_env,
)

SMALL = 7  # rows per batch: every window below spans several batches
DAYS = [dt.date(2026, 10, 5), dt.date(2026, 10, 6), dt.date(2026, 10, 7)]
HEADER = "id,wo,status,at,team"
# Status changes of three daily drops, with the faults the rules quarantine. A duplicate's copy sits more
# than SMALL rows after its original, so the two arrive in different batches.
LINES = {
    DAYS[0]: [
        "E01,W1,INSTALLING,2026-10-05 09:00:00,装维",
        "E02,W1,CALLBACK,2026-10-05 10:00:00,\\N",  # a literal backslash-N lands as those two characters
        "E03,W2,INSTALLING,2026-10-05 09:30:00,",  # an empty team: missing, not the text \N
        "E04,W2,BOGUS,2026-10-05 10:00:00,\\N",  # unknown_status, its raw record keeps \N
        'E05,W3,INSTALLING,not a time,""',  # unparseable_timestamp, its raw record keeps ""
        "E06,W4,INSTALLING",  # missing_fields
        "E07,W4,INSTALLING,2026-10-05 11:00:00,装维,spare",  # extra_fields
        "E08,,INSTALLING,2026-10-05 11:00:00,装维",  # missing_work_order_key
        "E09,W5,INSTALLING,2026-10-05 12:00:00,装维",
        "E09,W5,INSTALLING,2026-10-05 12:00:00,装维",  # duplicate_row in the same batch
        "E10,W5,CLOSED,2026-10-05 13:00:00,装维",
        "E11,W6,INSTALLING,2026-10-05 13:00:00,装维",
        "E11,W6,INSTALLING,2026-10-05 13:00:00,装维",
        "E12,W6,CALLBACK,2026-10-05 14:00:00,客服",
        "E01,W1,INSTALLING,2026-10-05 09:00:00,装维",  # duplicate_row of the first line, batches apart
        "E13,W7,INSTALLING,2026-10-05 15:00:00,装维",
    ],
    DAYS[1]: [
        "E01,W1,INSTALLING,2026-10-05 09:00:00,装维",  # the same row in another day's drop: no duplicate
        "E14,W7,CALLBACK,2026-10-06 09:00:00,客服",
        "E15,W7,CLOSED,2026-10-06 09:00:00,客服",  # the same instant as E14: delivery order decides
        "E16,W8,INSTALLING,2026-10-06 10:00:00,装维",
        "E17,W8,CALLBACK,2026-10-06 11:00:00,客服",
        "E18,W9,INSTALLING,2099-10-06 11:00:00,装维",  # start_in_future
        "E19,W9,INSTALLING,2026-10-06 12:00:00,装维",
        "E20,W10,INSTALLING,2026-10-06 12:30:00,装维",
        "E16,W8,INSTALLING,2026-10-06 10:00:00,装维",  # duplicate_row, across a batch boundary
    ],
    DAYS[2]: [f"E{30 + i},W{20 + i % 4},INSTALLING,2026-10-07 {8 + i}:00:00,装维" for i in range(9)],
}
DECLARATION = {
    "shape": "status_history",
    "time_zone": "Asia/Shanghai",
    "timestamp_format": "%Y-%m-%d %H:%M:%S",
    "timestamp_marks": "entry",
    "columns": {"source_row_key": "id", "work_order_id": "wo", "status": "status", "event_at": "at",
                "department": "team"},
    "process": "BROADBAND",
    "nodes": {"BROADBAND": {"INSTALLING": "INSTALL", "CALLBACK": "FOLLOWUP"}},
    "terminal_statuses": ["CLOSED"],
    "freshness": "off",
    "volume": "off",
    "quarantine_limit": 1.0,
}  # fmt: skip


def _window(days: list[dt.date] = DAYS) -> Window:
    return Window.for_days(days[0], days[-1], settings_of_env().business_time_zone)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(settings_of_env().processes_file)


@pytest.fixture(scope="module")
def warehouse(module_pipeline_env: Path) -> Warehouse:
    warehouse = warehouse_of_env()
    ensure_landing(warehouse)
    return warehouse


def _drops(root: Path, lines: dict[dt.date, list[str]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for day, rows in lines.items():
        (root / f"events_{day:%Y%m%d}.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return root


def _file_source(name: str, drops: Path, batch_rows: int) -> SourceConfig:
    return SourceConfig.model_validate(
        {**DECLARATION, "name": name, "kind": "file", "path": str(drops / "events_{date:%Y%m%d}.csv"),
         "batch_rows": batch_rows}
    )  # fmt: skip


def _landed(warehouse: Warehouse, source: str, shape: str = "status_history") -> dict[str, pd.DataFrame]:
    """What the window left in landing, quarantine and the extraction log, extraction times aside, sorted."""
    out = {}
    for table in (LANDING_BY_SHAPE[shape], QUARANTINE, EXTRACTION_LOG):
        frame = warehouse.query(
            f"select * from {warehouse.landing_schema}.{table.name} where source_system = '{source}'"
        ).drop(columns=["extracted_at"])
        text = frame.astype("string").fillna("<null>")
        out[table.name] = text.sort_values(list(text.columns)).reset_index(drop=True)
    return out


def _land(warehouse: Warehouse, cfg: SourceConfig, window: Window, catalogue: Catalogue) -> dict[str, int]:
    landed = land_batches(warehouse, cfg.name, cfg.shape, window, extract_batches(cfg, window, catalogue))
    assert landed.received == landed.accepted + landed.quarantined
    return landed.reasons


def _one_and_many(
    warehouse: Warehouse, one: SourceConfig, many: SourceConfig, window: Window, catalogue: Catalogue
) -> tuple[dict, dict]:
    """Land the window in one batch, then again in batches of SMALL rows; what each left."""
    assert len(list(read_batches(one, window))) == 1
    assert len(list(read_batches(many, window))) > 2
    reasons_one = _land(warehouse, one, window, catalogue)
    first = _landed(warehouse, one.name, one.shape)
    reasons_many = _land(warehouse, many, window, catalogue)
    assert reasons_many == reasons_one
    return first, _landed(warehouse, many.name, many.shape)


def _same(first: dict[str, pd.DataFrame], second: dict[str, pd.DataFrame]) -> None:
    for table, rows in first.items():
        pd.testing.assert_frame_equal(second[table], rows, obj=table)


def _loading_tables(warehouse: Warehouse) -> int:
    """DuckDB: the tables a load in batches left in `<schema>_loading` (a failed load drops the batches it had
    loaded); 0 on PostgreSQL, which loads in one transaction."""
    if warehouse.target != "duckdb":
        return 0
    left = warehouse.query(
        f"select count(*) as n from information_schema.tables where table_schema = '{warehouse.schema_name}_loading'"
    )
    return int(left.n[0])


def test_a_file_in_batches_lands_what_one_batch_lands(
    warehouse: Warehouse, tmp_path: Path, catalogue: Catalogue
) -> None:
    drops = _drops(tmp_path / "drops", LINES)
    first, many = _one_and_many(
        warehouse, _file_source("batched_file", drops, 10**6), _file_source("batched_file", drops, SMALL),
        _window(), catalogue,
    )  # fmt: skip
    _same(first, many)
    quarantine = many[QUARANTINE.name]
    reasons = quarantine.reason_code.value_counts().to_dict()
    assert reasons == {"duplicate_row": 4, "missing_fields": 1, "extra_fields": 1, "unknown_status": 1,
                       "unparseable_timestamp": 1, "missing_work_order_key": 1, "start_in_future": 1}  # fmt: skip
    events = many[LANDING_BY_SHAPE["status_history"].name].set_index("source_row_key")
    # COPY and the DuckDB scan alike: the text \N is not NULL, an empty field is missing.
    assert events.loc["E02", "department"] == "\\N"
    assert events.loc["E03", "department"] == "<null>"
    raw = quarantine.set_index(quarantine.raw_record.str.extract(r'"id":"(E\d+)"')[0]).raw_record
    assert '"team":"\\\\N"' in raw.loc["E04"] and '"team":""' in raw.loc["E05"]
    # The delivery order goes on across batches: E15 after E14 at the same instant.
    assert int(events.loc["E15", "event_seq"]) == int(events.loc["E14", "event_seq"]) + 1
    log = many[EXTRACTION_LOG.name]
    assert log.rows_received.astype(int).tolist() == [16, 9, 9]


def test_the_gate_counts_what_the_batches_landed(warehouse: Warehouse, tmp_path: Path, catalogue: Catalogue) -> None:
    drops = _drops(tmp_path / "drops", LINES)
    outcome = extract_and_check(warehouse, _file_source("gated_file", drops, SMALL), _window(), catalogue)
    assert (outcome.extract.received, outcome.extract.accepted, outcome.extract.quarantined) == (34, 24, 10)
    assert outcome.quarantine_reasons["duplicate_row"] == 4
    assert outcome.log.rows_received.sum() == 34
    assert {check.check_name: check.passed for check in outcome.checks}[ROWS_RECONCILE]


def test_a_failure_in_a_later_batch_leaves_the_previous_load_whole(
    warehouse: Warehouse, tmp_path: Path, catalogue: Catalogue
) -> None:
    drops = _drops(tmp_path / "drops", LINES)
    cfg = _file_source("atomic_file", drops, SMALL)
    _land(warehouse, cfg, _window(), catalogue)
    before = _landed(warehouse, cfg.name)
    # A new delivery: the first two days changed (several batches of them are read and loaded), the last
    # day's file is missing, which only the last batches find.
    _drops(drops, {DAYS[0]: [f"N{i},W{i},INSTALLING,2026-10-05 09:00:00,装维" for i in range(20)],
                   DAYS[1]: [f"M{i},W{i},CALLBACK,2026-10-06 09:00:00,客服" for i in range(20)]})  # fmt: skip
    (drops / f"events_{DAYS[2]:%Y%m%d}.csv").unlink()
    batches = extract_batches(cfg, _window(), catalogue)
    with pytest.raises(FileDropError, match="missing"):
        land_batches(warehouse, cfg.name, cfg.shape, _window(), batches)
    _same(before, _landed(warehouse, cfg.name))
    assert _loading_tables(warehouse) == 0


def test_a_failed_write_in_a_later_batch_leaves_the_previous_load_whole(
    warehouse: Warehouse, tmp_path: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warehouse refuses a batch while the next one is being read: the error is the load's, and the
    window keeps its previous rows (on DuckDB, its loading tables are dropped)."""
    drops = _drops(tmp_path / "drops", LINES)
    cfg = _file_source("atomic_write", drops, SMALL)
    _land(warehouse, cfg, _window(), catalogue)
    before = _landed(warehouse, cfg.name)
    _drops(drops, {DAYS[0]: [f"N{i},W{i},INSTALLING,2026-10-05 09:00:00,装维" for i in range(20)]})
    inserts = []
    insert = Warehouse._insert

    def refusing_the_third(self: Warehouse, *args: object, **kwargs: object) -> int:
        inserts.append(threading.current_thread().name)
        if len(inserts) == 3:
            raise RuntimeError("the warehouse refused the batch")
        return insert(self, *args, **kwargs)

    monkeypatch.setattr(Warehouse, "_insert", refusing_the_third)
    with pytest.raises(RuntimeError, match="refused"):
        land_batches(warehouse, cfg.name, cfg.shape, _window(), extract_batches(cfg, _window(), catalogue))
    assert len(inserts) == 3 and all(name.startswith("landing writer") for name in inserts)
    monkeypatch.undo()
    _same(before, _landed(warehouse, cfg.name))
    assert _loading_tables(warehouse) == 0


def test_a_batch_is_written_while_the_next_is_read() -> None:
    """The first batch's write lasts until the second batch has been read: written in line, it would wait for
    a read that never comes. The writes keep their order."""
    written: list[int] = []
    second_read = threading.Event()

    def add(frames: dict) -> None:
        if not written:
            assert second_read.wait(10), "the next batch was not read while this one was written"
        written.append(frames["t"])

    def batches() -> Iterator[int]:
        yield 1
        second_read.set()
        yield 2
        yield 3

    with _written_behind(add) as (write, waited):
        for batch in batches():
            write({"t": batch})
    assert written == [1, 2, 3]
    assert waited[0] >= 0


def test_a_failed_write_stops_the_load_at_the_next_batch() -> None:
    written: list[int] = []

    def add(frames: dict) -> None:
        if frames["t"] == 1:
            raise ValueError("COPY failed")
        written.append(frames["t"])

    with pytest.raises(ValueError, match="COPY failed"), _written_behind(add) as (write, _):
        for batch in (1, 2, 3):
            write({"t": batch})
    assert written == []


def test_a_failed_read_waits_for_the_write_under_way() -> None:
    """The load's transaction is rolled back only once the batch being written is done with it."""
    release, done = threading.Event(), []

    def add(frames: dict) -> None:
        assert release.wait(10)
        done.append(frames["t"])

    with pytest.raises(FileDropError), _written_behind(add) as (write, _):
        write({"t": 1})
        threading.Timer(0.2, release.set).start()
        raise FileDropError("the next file is missing")
    assert done == [1]


def test_overlapping_runs_in_different_batches_are_still_quarantined(
    warehouse: Warehouse, tmp_path: Path, catalogue: Catalogue
) -> None:
    """An interval source: the later of two overlapping passes is quarantined though the two rows are more
    than a batch apart."""
    rows = ["K1,W1,ACCEPT,2026-10-05 09:00:00,2026-10-05 12:00:00"]
    rows += [f"P{i},X{i},ACCEPT,2026-10-05 09:00:00,2026-10-05 10:00:00" for i in range(2 * SMALL)]
    rows += ["K3,W1,ACCEPT,2026-10-05 11:00:00,2026-10-05 13:00:00"]  # overlaps K1
    (tmp_path / "runs.csv").write_text("\n".join(["id,wo,node,start,end", *rows]) + "\n", encoding="utf-8")

    def source(batch_rows: int) -> SourceConfig:
        return SourceConfig.model_validate(
            {"name": "batched_runs", "kind": "file", "path": str(tmp_path / "runs.csv"), "shape": "intervals",
             "time_zone": "Asia/Shanghai", "columns": {"source_row_key": "id", "work_order_id": "wo",
             "node": "node", "start_at": "start", "end_at": "end"}, "process": "BROADBAND",
             "nodes": {"BROADBAND": {"ACCEPT": "ACCEPT"}}, "batch_rows": batch_rows}
        )  # fmt: skip

    window = _window(DAYS[:1])
    first, many = _one_and_many(warehouse, source(10**6), source(SMALL), window, catalogue)
    _same(first, many)
    assert many[QUARANTINE.name].reason_code.tolist() == ["overlapping_run"]
    assert len(many[LANDING_BY_SHAPE["intervals"].name]) == 2 * SMALL + 1


def test_overlaps_are_judged_over_the_whole_window_with_no_batch_holding_it(
    warehouse: Warehouse, tmp_path: Path, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interval history in batches: a run found to overlap in a later batch leaves an earlier batch's
    rows too (its every version; a run starting earlier that arrives later), a newer version decides for
    its run, equal starts are ordered by key, and no batch is normalised with more than its rows."""

    def fill(prefix: str) -> list[str]:  # runs of other work orders, a batch of them
        times = "2026-10-05 09:00:00,2026-10-05 10:00:00,2026-10-05 10:00:00"
        return [f"{prefix}{i},{prefix}W{i},ACCEPT,{times}" for i in range(SMALL)]

    rows = [
        "K1,W1,ACCEPT,2026-10-05 09:00:00,2026-10-05 12:00:00,2026-10-05 12:00:00",  # K3 starts earlier: K1 overlaps
        "K5,W5,ACCEPT,2026-10-05 09:00:00,,2026-10-05 09:00:00",  # open on day 1 (overlaps K6), closed on day 2
        "K9,W9,ACCEPT,2026-10-05 09:00:00,2026-10-05 10:00:00,2026-10-05 10:00:00",
        "K10,W9,ACCEPT,2026-10-05 10:00:00,2026-10-05 11:00:00,2026-10-05 11:00:00",  # touches K9's first version
        "K11,W11,ACCEPT,2026-10-05 10:00:00,2026-10-05 11:00:00,2026-10-05 11:00:00",
        "K14,W14,ACCEPT,2026-10-05 09:00:00,2026-10-05 10:00:00,2026-10-05 10:00:00",  # K13 starts with it
        *fill("P"),
        "K6,W5,ACCEPT,2026-10-06 11:00:00,2026-10-06 12:00:00,2026-10-06 12:00:00",
        "K12,W11,ACCEPT,2026-10-05 08:00:00,2026-10-05 09:00:00,2026-10-05 09:00:00",
        "K7,W7,ACCEPT,2026-10-05 09:00:00,2026-10-05 10:00:00,2026-10-05 10:00:00",
        "K8,W7,ACCEPT,2026-10-05 09:30:00,2026-10-05 11:00:00,2026-10-05 11:00:00",  # overlaps K7
        *fill("Q"),
        "K3,W1,ACCEPT,2026-10-05 08:00:00,2026-10-05 10:00:00,2026-10-05 13:00:00",
        "K5,W5,ACCEPT,2026-10-05 09:00:00,2026-10-06 10:00:00,2026-10-06 10:00:00",  # the newest version of K5
        "K9,W9,ACCEPT,2026-10-05 09:00:00,2026-10-05 10:30:00,2026-10-06 10:30:00",  # now K10 overlaps K9
        "K11,W11,ACCEPT,2026-10-05 08:30:00,2026-10-05 11:00:00,2026-10-06 11:00:00",  # now overlaps K12
        "K13,W14,ACCEPT,2026-10-05 09:00:00,2026-10-05 09:30:00,2026-10-05 09:30:00",
    ]
    (tmp_path / "runs.csv").write_text("\n".join(["id,wo,node,start,end,changed", *rows]) + "\n", encoding="utf-8")

    def source(batch_rows: int) -> SourceConfig:
        return SourceConfig.model_validate(
            {"name": "batched_history", "kind": "file", "path": str(tmp_path / "runs.csv"), "shape": "intervals",
             "time_zone": "Asia/Shanghai", "columns": {"source_row_key": "id", "work_order_id": "wo",
             "node": "node", "start_at": "start", "end_at": "end", "changed_at": "changed"},
             "process": "BROADBAND", "nodes": {"BROADBAND": {"ACCEPT": "ACCEPT"}}, "batch_rows": batch_rows}
        )  # fmt: skip

    normalised: list[int] = []

    def counted(cfg, raw, *args, **kwargs):
        normalised.append(len(raw))
        return normalise(cfg, raw, *args, **kwargs)

    monkeypatch.setattr("orchestration.landing.batch.normalise", counted)
    first, many = _one_and_many(warehouse, source(10**6), source(SMALL), _window(DAYS[:2]), catalogue)
    _same(first, many)
    assert normalised[0] == len(rows) and max(normalised[1:]) == SMALL  # the one batch, then SMALL at most
    quarantine = many[QUARANTINE.name]
    assert set(quarantine.reason_code) == {"overlapping_run"}
    keys = sorted(record.split('"id":"')[1].split('"')[0] for record in quarantine.raw_record)
    assert keys == ["K1", "K10", "K11", "K11", "K14", "K8"]


# --------------------------------------------------------------------------------------------------
# SQL: the same rows from a MariaDB and a PostgreSQL table, through a server-side cursor
# --------------------------------------------------------------------------------------------------


def _sql_rows() -> pd.DataFrame:
    """The file drops' well-formed lines as a table (a field-count fault is a file's own)."""
    rows = [
        (*line.split(","), f"{day} 12:00:00") for day, lines in LINES.items() for line in lines if line.count(",") == 4
    ]
    frame = pd.DataFrame(rows, columns=["id", "wo", "status", "at", "team", "changed"])
    return frame.assign(team=frame.team.replace('""', ""))


def _sql_source(url: str, batch_rows: int) -> SourceConfig:
    return SourceConfig.model_validate(
        {**DECLARATION, "name": "batched_sql", "kind": "sql", "connection": {"url_env": "BATCHED_SQL_URL"},
         "columns": {**DECLARATION["columns"], "changed_at": "changed"},
         "query": "SELECT id, wo, status, at, team, changed FROM drops ORDER BY seq", "batch_rows": batch_rows}
    )  # fmt: skip


@pytest.fixture(scope="module", params=["mariadb", "postgres"])
def sql_url(request: pytest.FixtureRequest) -> Iterator[str]:
    table = _sql_rows().reset_index(names="seq")
    if request.param == "mariadb":
        require_server("MariaDB", MARIADB_HOST, MARIADB_PORT)
        import pymysql

        database = f"t_batches_{uuid.uuid4().hex[:10]}"
        admin = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"create database {database} character set utf8mb4")
        url = f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/{database}?charset=utf8mb4"
    else:
        require_server("PostgreSQL", PG_HOST, PG_PORT)
        import psycopg2

        database = f"t_batches_{uuid.uuid4().hex[:10]}"
        admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"create schema {database}")
        url = f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/test?options=-csearch_path%3D{database}"
    engine = sa.create_engine(url)
    try:
        table.to_sql("drops", engine, index=False, dtype={c: sa.String(64) for c in table.columns if c != "seq"})
    finally:
        engine.dispose()
    try:
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop schema if exists {database} cascade" if request.param == "postgres"
                        else f"drop database if exists {database}")  # fmt: skip
        admin.close()


def test_a_sql_source_in_batches_lands_what_one_batch_lands(
    warehouse: Warehouse, sql_url: str, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCHED_SQL_URL", sql_url)
    first, many = _one_and_many(warehouse, _sql_source(sql_url, 10**6), _sql_source(sql_url, SMALL), _window(),
                                catalogue)  # fmt: skip
    _same(first, many)
    reasons = many[QUARANTINE.name].reason_code.value_counts().to_dict()
    assert reasons == {"duplicate_row": 4, "unknown_status": 1, "unparseable_timestamp": 1,
                       "missing_work_order_key": 1, "start_in_future": 1}  # fmt: skip


# --------------------------------------------------------------------------------------------------
# HTTP: the demo ticket API, small pages
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ticket_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("tickets") / "ticket_events.jsonl"
    gen.write_ticket_store(gen.generate_truth(dt.date(2026, 10, 1), dt.datetime(2026, 10, 9, tzinfo=dt.UTC), 6), store)
    server, url = serve_in_background(store, token="")  # "" = no token check
    yield url
    server.shutdown()


def test_an_http_source_in_batches_lands_what_one_batch_lands(
    warehouse: Warehouse, ticket_api: str, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKET_API_URL", ticket_api)
    monkeypatch.delenv("TICKET_API_TOKEN", raising=False)
    declared = load_source(CONFIG_DIR / "sources" / "ticket_api.yaml", settings_of_env())

    def source(batch_rows: int) -> SourceConfig:
        return declared.model_copy(update={"params": {**declared.params, "page_size": 5}, "batch_rows": batch_rows})

    first, many = _one_and_many(warehouse, source(10**6), source(SMALL), _window(), catalogue)
    _same(first, many)
    assert len(many[LANDING_BY_SHAPE["status_history"].name]) > 5 * SMALL


def test_a_bulk_load_leaves_statistics_for_the_checks_that_follow(
    warehouse: Warehouse, tmp_path: Path, catalogue: Catalogue
) -> None:
    """PostgreSQL plans the checks after a load (Great Expectations' SQL, reconciliation) on the table's
    statistics: a load that changes a landing table by a tenth or more refreshes them at once; a small one
    leaves them to autovacuum. DuckDB keeps its own as it writes."""
    from orchestration.warehouse import ANALYZE_MIN_ROWS

    day = dt.date(2026, 10, 8)
    rows = [
        f"B{i},BW{i // 4},INSTALLING,2026-10-08 {i % 24:02d}:{i % 60:02d}:00,装维" for i in range(2 * ANALYZE_MIN_ROWS)
    ]
    cfg = _file_source("bulk_file", _drops(tmp_path / "bulk", {day: rows}), 10**6)
    _land(warehouse, cfg, _window([day]), catalogue)
    table = f"{warehouse.landing_schema}.{LANDING_BY_SHAPE['status_history'].name}"
    assert len(warehouse.query(f"select 1 from {table} where source_system = 'bulk_file'")) == len(rows)
    if warehouse.target != "postgres":
        return

    def statistics() -> tuple[float, object]:
        found = warehouse.execute(
            "select c.reltuples, s.last_analyze from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "join pg_stat_user_tables s on s.relid = c.oid where n.nspname = %s and c.relname = %s",
            [warehouse.landing_schema, LANDING_BY_SHAPE["status_history"].name],
        )
        return float(found[0][0]), found[0][1]

    tuples, analysed = statistics()
    assert analysed is not None and tuples >= len(rows)
    small = _file_source("small_file", _drops(tmp_path / "small", {day: rows[:10]}), 10**6)
    _land(warehouse, small, _window([day]), catalogue)
    assert statistics()[1] == analysed  # 10 rows: left to autovacuum


def test_rows_pandas_put_together_from_an_empty_frame_land_as_they_read(warehouse: Warehouse) -> None:
    """pandas concatenating an empty frame's text column with another's gives Arrow an empty chunk, which
    pyarrow 26's CSV writer wrote as NUL bytes into PostgreSQL's COPY: the rows must land as they read."""
    ensure_landing(warehouse)
    row = {"source_system": "concat_check", "partition_date": pd.Timestamp("2026-10-05"),
           "extracted_at": pd.Timestamp("2026-10-05 01:00:00"), "reason_code": "overlapping_run",
           "reason_detail": "a detail", "raw_record": '{"id":"K3"}'}  # fmt: skip
    one = pd.DataFrame([row])[QUARANTINE.column_names]
    warehouse.append(QUARANTINE.name, pd.concat([one.iloc[:0], one], ignore_index=True))
    landed = warehouse.query(
        f"select * from {warehouse.landing_schema}.{QUARANTINE.name} where source_system = 'concat_check'"
    )
    assert landed.drop(columns=["partition_date", "extracted_at"]).to_dict("records") == [
        {k: v for k, v in row.items() if k not in ("partition_date", "extracted_at")}
    ]


def test_row_hashes_tell_rows_apart_by_value_not_by_how_a_batch_typed_it() -> None:
    """What `duplicate_row` compares across batches: a value is hashed as its text (1 in an integer column of
    one batch is 1 in a text column of another), and neither a moved boundary between two values nor a null
    in place of an empty text makes two rows one."""
    day = pd.Series(pd.to_datetime(["2026-10-05"] * 5)).astype("datetime64[us]")
    rows = pd.DataFrame({"a": ["ab", "a", "x", "x", "1"], "b": ["c", "bc", "", None, "y"]})
    hashes = row_hashes(rows, day)
    assert hashes.dtype == "uint64" and hashes.shape == (5, 2)
    assert len({tuple(h) for h in hashes}) == 5
    typed = pd.DataFrame({"a": pd.array([1], dtype="Int64"), "b": ["y"]})
    assert (row_hashes(typed, day[:1])[0] == hashes[4]).all()
    other_day = pd.Series(pd.to_datetime(["2026-10-06"])).astype("datetime64[us]")
    assert not (row_hashes(rows[:1], other_day)[0] == hashes[0]).any()


def test_a_source_is_read_one_batch_ahead_in_order_and_closed_when_the_caller_stops() -> None:
    """The next batch is read while the caller lands this one; the reader's failure reaches the caller after
    the batches before it, and a caller that stops early leaves no reader running or unclosed."""
    threads: list[str] = []
    closed = threading.Event()

    def reader(fail_after: int | None) -> Iterator[pd.DataFrame]:
        try:
            for i in range(5):
                threads.append(threading.current_thread().name)
                if i == fail_after:
                    raise SourceRejected("source x: page 3 failed", "http_error")
                yield pd.DataFrame({"i": [i]})
        finally:
            closed.set()

    assert [int(f.i[0]) for f in _read_ahead(reader(None))] == [0, 1, 2, 3, 4]
    assert set(threads) == {"source reader"} and closed.is_set()

    seen, closed = [], threading.Event()
    with pytest.raises(SourceRejected, match="page 3 failed"):
        for frame in _read_ahead(reader(3)):
            seen.append(int(frame.i[0]))
    assert seen == [0, 1, 2] and closed.is_set()

    closed = threading.Event()
    frames = _read_ahead(reader(None))
    assert int(next(frames).i[0]) == 0
    frames.close()
    assert closed.is_set() and not any(t.name == "source reader" for t in threading.enumerate())


def test_rows_seen_are_found_however_many_batches_apart_and_a_first_hash_alone_is_no_match() -> None:
    """`duplicate_row`'s memory of a window: a row's copy is found in any later batch (its runs merged on
    the way), a copy within one batch too, and two rows sharing only their first hash stay two rows."""
    rng = np.random.default_rng(7)
    seen = SeenRows()
    batches = [rng.integers(1, 2**62, size=(50, 2)).astype(np.uint64) for _ in range(12)]
    batches[5][3] = batches[0][10]  # five batches apart
    batches[11][0] = batches[1][0]  # ten batches apart
    batches[7][4] = batches[7][2]  # within one batch
    batches[9][1] = (batches[2][6][0], batches[2][6][1] + 1)  # the first hash collides, the second does not
    found = [np.flatnonzero(seen.add(keys)).tolist() for keys in batches]
    assert found == [[], [], [], [], [], [3], [], [4], [], [], [], [0]]
