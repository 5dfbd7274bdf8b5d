"""The three source kinds, as a user relies on them: one SQL declaration over SQLite, MariaDB and
PostgreSQL; GB18030 daily file drops and the ways they fail; the paginated, token-protected ticket
API; and landing into both warehouses, where a rerun replaces its partitions and bad rows are
quarantined with a reason while the good rows of the same batch still load."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from demo import generator as gen
from demo.ticket_api_server import serve_in_background
from orchestration.landing.batch import Extract, ensure_landing, extract, land
from orchestration.periods import Window
from orchestration.reference.catalogue import Catalogue, load_catalogue
from orchestration.sources.config import SourceConfig, load_source
from orchestration.sources.errors import SourceRejected
from orchestration.sources.file import FileDropError
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

START = dt.date(2026, 10, 1)
NOW = dt.datetime(2026, 10, 12, 6, 0, tzinfo=dt.UTC)
ORDERS_PER_DAY = 12
FIRST, LAST = dt.date(2026, 10, 3), dt.date(2026, 10, 6)  # the extraction window, business days
WINDOW_DAYS = [FIRST + dt.timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
SHANGHAI = "Asia/Shanghai"

CANONICAL = ["work_order_id", "process_code", "node_code", "segment", "department", "start_at", "end_at"]


def _source(name: str) -> SourceConfig:
    return load_source(CONFIG_DIR / "sources" / f"{name}.yaml", settings_of_env())


def _window() -> Window:
    return Window.for_days(FIRST, LAST, settings_of_env().business_time_zone)


def _sorted(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame[columns].astype({c: "string" for c in columns if c not in ("start_at", "end_at")})
    out = out.astype({"start_at": "datetime64[us]", "end_at": "datetime64[us]"})
    return out.sort_values(columns, na_position="last").reset_index(drop=True)


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return gen.generate_truth(START, NOW, ORDERS_PER_DAY)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(settings_of_env().processes_file)


# --------------------------------------------------------------------------------------------------
# SQL: one declaration, three databases
# --------------------------------------------------------------------------------------------------

_T = pd.Timestamp
# Hand-made wf_task rows on the edges of the window, appended to the generated ones.
HAND_ROWS = [
    # Checked by hand below: 07:30 / 07:45 in Shanghai (UTC+8) are 23:30 / 23:45 UTC of the day before;
    # the row still belongs to the business day 2026-10-04 of its update_time.
    (90001, "CJ-HAND-1", "CJGL", "稽核", "审计部", "稽核员", "ZQ",
     _T("2026-10-04 07:30:00"), _T("2026-10-04 07:45:00"), pd.NaT, _T("2026-10-04 07:45:00")),
    # update_time exactly at the window start: in, first day.
    (90002, "KD-HAND-2", "KDZJ", "受理", "营业厅", "营业员", "GZ",
     _T("2026-10-02 22:00:00"), _T("2026-10-03 00:00:00"), pd.NaT, _T("2026-10-03 00:00:00")),
    # One second before the window: out.
    (90003, "KD-HAND-3", "KDZJ", "派单", "调度中心", "调度员", "VIP",
     _T("2026-10-02 20:00:00"), _T("2026-10-02 23:59:59"), pd.NaT, _T("2026-10-02 23:59:59")),
    # Last second of the window, still open (no end_time): in, last day.
    (90004, "KD-HAND-4", "KDZJ", "派单", "调度中心", "调度员", "VIP",
     _T("2026-10-06 23:59:59"), pd.NaT, pd.NaT, _T("2026-10-06 23:59:59")),
    # Open at the window's end and closed exactly then (its change is after the window): in, last day.
    (90005, "CJ-HAND-5", "CJGL", "审批", "市场部", "部门经理", "GZ",
     _T("2026-10-06 20:00:00"), _T("2026-10-07 00:00:00"), pd.NaT, _T("2026-10-07 00:00:00")),
    # Open at the window's end, closed two days later, before this extraction: in, last day.
    (90006, "KD-HAND-6", "KDZJ", "受理", "营业厅", "营业员", "GZ",
     _T("2026-10-06 23:00:00"), _T("2026-10-09 10:00:00"), pd.NaT, _T("2026-10-09 10:00:00")),
    # Begun exactly at the window end: out (the window is half-open).
    (90007, "CJ-HAND-7", "CJGL", "审批", "市场部", "部门经理", "GZ",
     _T("2026-10-07 00:00:00"), _T("2026-10-07 01:00:00"), pd.NaT, _T("2026-10-07 01:00:00")),
]  # fmt: skip
OA_PROCESSES = {"CJGL": "REMUNERATION", "KDZJ": "BROADBAND"}
OA_NODES = {"稽核": "REVIEW", "审批": "APPROVE", "受理": "ACCEPT", "派单": "DISPATCH"}
OA_SEGMENTS = {"ZQ": "政企", "VIP": "VIP", "GZ": "公众"}


@pytest.fixture(scope="module")
def oa_frame(truth: pd.DataFrame) -> pd.DataFrame:
    generated = gen.oa_task_frame(truth)
    hand = pd.DataFrame(HAND_ROWS, columns=list(gen.OA_COLUMNS)).astype(generated.dtypes.to_dict())
    return pd.concat([generated, hand], ignore_index=True)


@pytest.fixture(scope="module")
def oa_expected(oa_frame: pd.DataFrame) -> pd.DataFrame:
    """The window's rows of wf_task, mapped to canonical codes and UTC, computed here independently."""
    start, end = pd.Timestamp("2026-10-03 00:00:00"), pd.Timestamp("2026-10-07 00:00:00")  # Shanghai, naive
    # Every task active in the window: begun before its end, changed since its start.
    rows = oa_frame[(oa_frame.begin_time < end) & (oa_frame.update_time >= start)]

    def utc(local: pd.Series) -> pd.Series:
        return local.dt.tz_localize(SHANGHAI).dt.tz_convert("UTC").dt.tz_localize(None)

    return pd.DataFrame(
        {
            "source_row_key": rows.task_id.astype(str),
            "work_order_id": rows.flow_no,
            "process_code": rows.flow_type.map(OA_PROCESSES),
            "node_code": rows.step_name.map(OA_NODES),
            "segment": rows.cust_level.map(OA_SEGMENTS),
            "department": rows.dept_name,
            "start_at": utc(rows.begin_time),
            "end_at": utc(rows.end_time),
            # The day of the last change, or the window's last day for a task changed after the window.
            "partition_date": rows.update_time.dt.normalize().clip(upper=end - pd.Timedelta(days=1)),
        }
    ).reset_index(drop=True)


def _extract_oa(url: str, oa_frame: pd.DataFrame, catalogue: Catalogue) -> Extract:
    engine = sa.create_engine(url)
    try:
        gen.write_oa_table(engine, oa_frame)
    finally:
        engine.dispose()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OA_DB_URL", url)  # the only thing that changes between the databases
        return extract(_source("oa_workflow"), _window(), catalogue)


@pytest.fixture(scope="module")
def oa_sqlite(tmp_path_factory: pytest.TempPathFactory, oa_frame: pd.DataFrame, catalogue: Catalogue) -> Extract:
    path = tmp_path_factory.mktemp("oa") / "oa_workflow.sqlite"
    return _extract_oa(f"sqlite:///{path}", oa_frame, catalogue)


@pytest.fixture(scope="module")
def oa_mariadb(oa_frame: pd.DataFrame, catalogue: Catalogue) -> Iterator[Extract]:
    require_server("MariaDB", MARIADB_HOST, MARIADB_PORT)
    import pymysql

    database = f"t_oa_{uuid.uuid4().hex[:10]}"
    admin = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f"create database {database} character set utf8mb4")
        yield _extract_oa(f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/{database}", oa_frame, catalogue)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop database if exists {database}")
        admin.close()


@pytest.fixture(scope="module")
def oa_postgres(oa_frame: pd.DataFrame, catalogue: Catalogue) -> Iterator[Extract]:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg2

    schema = f"t_oa_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="test")
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f"create schema {schema}")
        # The declared query reads wf_task unqualified: the search path points it at the fresh schema.
        url = f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/test?options=-csearch_path%3D{schema}"
        yield _extract_oa(url, oa_frame, catalogue)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop schema if exists {schema} cascade")
        admin.close()


@pytest.fixture(scope="module", params=["sqlite", "mariadb", "postgres"])
def oa_extract(request: pytest.FixtureRequest) -> Extract:
    return request.getfixturevalue(f"oa_{request.param}")


def test_sql_same_canonical_rows_from_all_three_databases(
    oa_sqlite: Extract, oa_mariadb: Extract, oa_postgres: Extract
) -> None:
    frames = {name: _sorted(e.rows, CANONICAL) for name, e in [("mariadb", oa_mariadb), ("postgres", oa_postgres)]}
    reference = _sorted(oa_sqlite.rows, CANONICAL)
    assert len(reference) > 20
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, reference, obj=f"{name} vs sqlite")


def test_sql_rows_of_the_window_arrive_canonical(oa_extract: Extract, oa_expected: pd.DataFrame) -> None:
    # Only the tasks active in [window start, window end) local time, all accepted.
    assert oa_extract.received == len(oa_expected)
    assert oa_extract.accepted == len(oa_expected)
    assert oa_extract.quarantine.empty
    assert oa_extract.rows.source_row_key.is_unique
    assert set(oa_extract.rows.source_row_key) >= {"90001", "90002", "90004", "90005", "90006"}
    assert not set(oa_extract.rows.source_row_key) & {"90003", "90007"}
    pd.testing.assert_frame_equal(_sorted(oa_extract.rows, CANONICAL), _sorted(oa_expected, CANONICAL))
    # The generated rows exercise every mapping.
    assert {"REMUNERATION", "BROADBAND"} <= set(oa_extract.rows.process_code)
    assert {"REVIEW", "ACCEPT", "DISPATCH"} <= set(oa_extract.rows.node_code)
    assert set(oa_extract.rows.segment) <= {"政企", "VIP", "公众"}
    assert oa_extract.rows.cancelled_at.isna().all()


def test_sql_rows_go_to_their_last_change_day_within_the_window(oa_extract: Extract, oa_expected: pd.DataFrame) -> None:
    got = oa_extract.rows[["source_row_key", "partition_date"]].astype({"source_row_key": str})
    merged = got.merge(oa_expected[["source_row_key", "partition_date"]], on="source_row_key", suffixes=("", "_want"))
    assert len(merged) == len(oa_expected)
    assert (merged.partition_date == merged.partition_date_want).all()
    assert set(got.partition_date.dt.date) == set(WINDOW_DAYS)
    by_key = got.set_index("source_row_key").partition_date.dt.date
    assert by_key["90002"] == dt.date(2026, 10, 3)
    assert by_key["90004"] == dt.date(2026, 10, 6)
    assert by_key["90005"] == by_key["90006"] == dt.date(2026, 10, 6)  # changed after the window


def test_sql_one_row_by_hand(oa_extract: Extract) -> None:
    row = oa_extract.rows.set_index("source_row_key").loc["90001"]
    assert row.work_order_id == "CJ-HAND-1"
    assert (row.process_code, row.node_code, row.segment) == ("REMUNERATION", "REVIEW", "政企")
    assert (row.department, row.position) == ("审计部", "稽核员")
    # 2026-10-04 07:30 / 07:45 Asia/Shanghai (UTC+8) = 2026-10-03 23:30 / 23:45 UTC.
    assert row.start_at == pd.Timestamp("2026-10-03 23:30:00")
    assert row.end_at == pd.Timestamp("2026-10-03 23:45:00")
    assert pd.isna(row.cancelled_at)
    # Placed by the Shanghai business day of update_time, not by its UTC date.
    assert row.partition_date == pd.Timestamp("2026-10-04")
    open_row = oa_extract.rows.set_index("source_row_key").loc["90004"]
    assert open_row.start_at == pd.Timestamp("2026-10-06 15:59:59") and pd.isna(open_row.end_at)


SQL_COLUMNS_AS_DRIVERS_GIVE_THEM = {
    "ids": [1, None, 3],
    "ids_beside_text": [1, "2", None],  # a column of mixed values stays values as they are
    "whole_floats": [1.0, 2.0, None],  # integers once pandas sees they are all whole
    "floats": [1.5, 2, None],
    "flags": [True, None, False],
    "flags_beside_ints": [True, 1, None],
    "texts": ["受理", None, "x"],
    "dates_as_text": ["2026-10-04 07:30:00", "04/10/2026 07:45", None],
    "instants": [dt.datetime(2026, 10, 4, 7, 30), None, dt.datetime(2026, 10, 4, 8)],
    "decimals": [Decimal("1.50"), None, None],
    "huge_ints": [2**70, 1, None],
    "nothing": [None, None, None],
    "bytes": [b"\x01", None, b"\x02"],
    "arrays": [[1, 2], None, [3]],  # PostgreSQL's arrays: a row numpy cannot lay out as a matrix
}


@pytest.mark.parametrize("arrays", [False, True], ids=["a matrix", "with arrays"])
@pytest.mark.parametrize("rows", [3, 0], ids=["rows", "no rows"])
def test_sql_batches_are_typed_as_pandas_infers_them(rows: int, arrays: bool) -> None:
    """A driver's tuples become the frame pandas' own inference (nullable dtypes) makes of them, whether Arrow
    typed a column in one pass or pandas value by value, and whether numpy laid the rows out as a matrix or an
    array column made it refuse: the normaliser sees the same values either way."""
    from orchestration.sources.sql import _frame

    given = {c: v[:rows] for c, v in SQL_COLUMNS_AS_DRIVERS_GIVE_THEM.items() if arrays or c != "arrays"}
    tuples = list(zip(*given.values(), strict=True))
    by_pandas = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in given.items()})
    expected = by_pandas.infer_objects().convert_dtypes(dtype_backend="numpy_nullable")
    pd.testing.assert_frame_equal(_frame(tuples, list(given)), expected, check_exact=True)
    if rows:
        assert str(expected.dtypes["ids"]) == "Int64" and str(expected.dtypes["whole_floats"]) == "Int64"


# --------------------------------------------------------------------------------------------------
# Files: GB18030 daily drops
# --------------------------------------------------------------------------------------------------

SETTLEMENT_SEGMENTS = {"政企渠道": "政企", "VIP渠道": "VIP", "社会渠道": "公众"}
SETTLEMENT_NODES = {"数据采集": "COLLECT", "酬金计算": "CALCULATE", "酬金支付": "PAY"}


def _drop_file(data_dir: Path, day: dt.date) -> Path:
    return data_dir / "drops" / "settlement" / f"jiesuan_{day:%Y%m%d}.csv"


def _append_gb18030(path: Path, *lines: str) -> None:
    body = path.read_bytes()
    assert body.endswith(b"\n")
    path.write_bytes(body + "".join(line + "\n" for line in lines).encode("gb18030"))


def _write_drops(truth: pd.DataFrame, data_dir: Path) -> None:
    gen.write_settlement_files(
        truth, data_dir / "drops" / "settlement", START, NOW.astimezone(ZoneInfo(SHANGHAI)).date()
    )


@pytest.fixture
def settlement_dir(tmp_path: Path, truth: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The generator's daily drops under a fresh data dir (the declaration's {data_dir})."""
    monkeypatch.setenv("COMMITMENTS_DATA_DIR", str(tmp_path))
    _write_drops(truth, tmp_path)
    return tmp_path


# Checked by hand: 05:30 / 10:00 in Urumqi (UTC+6) are 23:30 the day before / 04:00 UTC.
HAND_SETTLEMENT = "JS90000001,CJ-HAND-9,酬金计算,政企渠道,财务部,结算会计,2026/10/04 05:30:00,2026/10/04 10:00:00,"


def test_file_reads_gb18030_daily_drops(settlement_dir: Path, truth: pd.DataFrame, catalogue: Catalogue) -> None:
    hand_file = _drop_file(settlement_dir, dt.date(2026, 10, 4))
    _append_gb18030(hand_file, HAND_SETTLEMENT)
    raw = hand_file.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # really GB18030 on disk, Chinese headers included
    assert raw.decode("gb18030").startswith("记录编号,结算批次号,环节")

    result = extract(_source("settlement_files"), _window(), catalogue)

    # Every data line of the window's four files, and nothing else.
    frame = gen.settlement_frame(truth)
    day_numbers = {(d - dt.date(1970, 1, 1)).days: d for d in WINDOW_DAYS}
    in_window = frame[frame.day.isin(day_numbers)]
    assert result.received == result.accepted == len(in_window) + 1 > 5
    assert result.quarantine.empty
    rows = result.rows
    # Each row is tagged with the day of the file it came from.
    got_days = rows[rows.source_row_key != "JS90000001"].groupby(rows.partition_date.dt.date).size()
    want_days = in_window.groupby(in_window.day.map(day_numbers)).size()
    assert got_days.to_dict() == want_days.to_dict()
    assert rows.groupby(["partition_date", "source_row_key"]).size().max() == 1

    # Codes, Chinese text and times match what the settlement system knows (the truth), key by key.
    st = truth[truth.source_system == gen.SETTLEMENT].astype({"source_key": str})
    merged = rows[rows.source_row_key != "JS90000001"].merge(
        st, left_on="source_row_key", right_on="source_key", suffixes=("", "_truth"), validate="many_to_one"
    )
    assert len(merged) == len(rows) - 1
    assert (merged.process_code == "REMUNERATION").all()
    for column in ("work_order_id", "node_code", "segment", "department", "position"):
        assert (merged[column] == merged[f"{column}_truth"].astype(str)).all(), column
    start_truth = merged.start_at_truth.dt.tz_convert("UTC").dt.tz_localize(None)
    assert (merged.start_at == start_truth).all()
    shown = merged.end_at.notna()
    end_truth = merged.end_at_truth.dt.tz_convert("UTC").dt.tz_localize(None)
    assert (merged.end_at[shown] == end_truth[shown]).all()
    # A file shows an end only once it happened, by the end of the file's business day.
    assert ((merged.end_at[shown] + pd.Timedelta(hours=8)).dt.normalize() <= merged.partition_date[shown]).all()
    assert set(rows.department) <= {"数据中心", "财务部"}

    hand = rows.set_index("source_row_key").loc["JS90000001"]
    assert (hand.work_order_id, hand.node_code, hand.segment) == ("CJ-HAND-9", "CALCULATE", "政企")
    assert (hand.department, hand.position) == ("财务部", "结算会计")
    assert hand.start_at == pd.Timestamp("2026-10-03 23:30:00")
    assert hand.end_at == pd.Timestamp("2026-10-04 04:00:00")
    assert hand.partition_date == pd.Timestamp("2026-10-04")


def test_file_missing_declared_column_rejects_the_whole_file(settlement_dir: Path, catalogue: Catalogue) -> None:
    path = _drop_file(settlement_dir, dt.date(2026, 10, 5))
    frame = pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)
    assert len(frame) > 0
    frame.drop(columns="环节").to_csv(path, index=False, encoding="gb18030")
    with pytest.raises(FileDropError) as caught:
        extract(_source("settlement_files"), _window(), catalogue)
    message = str(caught.value)
    assert "环节" in message and str(path) in message
    assert "开始时间" not in message.split("found")[0]  # only the missing column is blamed


def test_file_in_the_wrong_encoding_fails_clearly(settlement_dir: Path, catalogue: Catalogue) -> None:
    path = _drop_file(settlement_dir, dt.date(2026, 10, 5))
    path.write_bytes(path.read_bytes().decode("gb18030").encode("utf-8"))
    with pytest.raises(FileDropError) as caught:
        extract(_source("settlement_files"), _window(), catalogue)
    message = str(caught.value)
    assert str(path) in message and "is not valid gb18030" in message


def test_file_missing_daily_drop_fails_clearly(settlement_dir: Path, catalogue: Catalogue) -> None:
    path = _drop_file(settlement_dir, dt.date(2026, 10, 5))
    path.unlink()
    with pytest.raises(FileDropError) as caught:
        extract(_source("settlement_files"), _window(), catalogue)
    message = str(caught.value)
    assert str(path) in message and "missing" in message


# --------------------------------------------------------------------------------------------------
# HTTP: the ticket API
# --------------------------------------------------------------------------------------------------

PAGE_SIZE = 7


@pytest.fixture(scope="module")
def ticket_store(tmp_path_factory: pytest.TempPathFactory, truth: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("tickets") / "ticket_events.jsonl"
    gen.write_ticket_store(truth, path)
    return path


@pytest.fixture(scope="module")
def window_events(ticket_store: Path) -> pd.DataFrame:
    events = pd.read_json(ticket_store, lines=True, dtype={"event_id": int, "changed_at": str})
    changed = pd.to_datetime(events.changed_at, utc=True)
    window = _window()
    inside = (changed >= window.start) & (changed < window.end)
    # The store reaches beyond the window on both sides: the window filter has something to do.
    assert (changed < window.start).any() and (changed >= window.end).any()
    return events[inside].reset_index(drop=True)


@pytest.fixture
def ticket_api(ticket_store: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server, url = serve_in_background(ticket_store, token="")  # "" = no token check
    monkeypatch.setenv("TICKET_API_URL", url)
    monkeypatch.delenv("TICKET_API_TOKEN", raising=False)
    yield url
    server.shutdown()


def _small_pages() -> SourceConfig:
    cfg = _source("ticket_api")
    return cfg.model_copy(update={"params": {**cfg.params, "page_size": PAGE_SIZE}})


def test_http_pages_through_the_window_exactly_once(
    ticket_api: str, window_events: pd.DataFrame, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages: list[dict] = []
    real_get = httpx.AsyncClient.get

    async def counting_get(self: httpx.AsyncClient, url: str, **kwargs):  # type: ignore[no-untyped-def]
        pages.append(dict(kwargs["params"]))
        return await real_get(self, url, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "get", counting_get)
    result = extract(_small_pages(), _window(), catalogue)

    n = len(window_events)
    assert n > 3 * PAGE_SIZE
    assert [p["page"] for p in pages] == list(range(1, math.ceil(n / PAGE_SIZE) + 1))
    assert {p["page_size"] for p in pages} == {PAGE_SIZE}
    assert pages[0]["changed_from"] == "2026-10-02T16:00:00Z" and pages[0]["changed_to"] == "2026-10-06T16:00:00Z"
    # Every event of the window exactly once, nothing from outside it, all accepted.
    assert result.received == result.accepted == n
    assert result.quarantine.empty
    assert result.rows.source_row_key.is_unique
    assert sorted(result.rows.source_row_key.astype(int)) == sorted(window_events.event_id)

    # Canonical mapping of the events.
    rows = result.rows.astype({"source_row_key": int}).set_index("source_row_key").sort_index()
    want = window_events.set_index("event_id").sort_index()
    changed_utc = pd.to_datetime(want.changed_at, utc=True).dt.tz_localize(None)
    assert (rows.event_at == changed_utc).all()
    assert (rows.work_order_id == want.order_no).all()
    assert (rows.segment == want.customer_tier.map({"GOV": "政企", "VIP": "VIP", "PUBLIC": "公众"})).all()
    roles = want.status.map({"CLOSED": "terminal", "CANCELLED": "cancelling"}).fillna("activity")
    assert (rows.event_role == roles).all()
    nodes = {"INSTALLING": "INSTALL", "CALLBACK": "FOLLOWUP", "REGISTERED": "REGISTER", "HANDLING": "HANDLE"}
    nodes["REPLYING"] = "REPLY"
    assert (rows.node_code.fillna("-") == want.status.map(nodes).fillna("-")).all()
    business_day = (changed_utc + pd.Timedelta(hours=8)).dt.normalize()
    assert (rows.partition_date == business_day).all()


def test_http_bearer_token(
    ticket_store: Path, window_events: pd.DataFrame, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = serve_in_background(ticket_store, token="s3cret-token")
    try:
        monkeypatch.setenv("TICKET_API_URL", url)
        monkeypatch.setenv("TICKET_API_TOKEN", "s3cret-token")
        result = extract(_small_pages(), _window(), catalogue)
        assert sorted(result.rows.source_row_key.astype(int)) == sorted(window_events.event_id)

        # Refused: not retried, the batch is rejected naming the source, the page and the answer.
        monkeypatch.delenv("TICKET_API_TOKEN")
        with pytest.raises(SourceRejected) as caught:
            extract(_small_pages(), _window(), catalogue)
        assert caught.value.reason_code == "http_error"
        assert "source ticket_api: page 1 of" in str(caught.value) and "HTTP 401" in str(caught.value)

        monkeypatch.setenv("TICKET_API_TOKEN", "wrong-token")
        with pytest.raises(SourceRejected) as caught:
            extract(_small_pages(), _window(), catalogue)
        assert "HTTP 401" in str(caught.value) and "wrong-token" not in str(caught.value)
    finally:
        server.shutdown()


# --------------------------------------------------------------------------------------------------
# Landing on DuckDB and PostgreSQL
# --------------------------------------------------------------------------------------------------

BAD_NODE = "JSBAD00001,CJ-BAD-1,质检,政企渠道,财务部,结算会计,2026/10/04 09:00:00,2026/10/04 10:00:00,"
BAD_TIME = "JSBAD00002,CJ-BAD-2,酬金计算,社会渠道,财务部,结算会计,2026/10/04 25:61:00,2026/10/04 10:00:00,"


def _landing(warehouse: Warehouse, table: str, source: str) -> pd.DataFrame:
    return warehouse.query(f"select * from {warehouse.landing_schema}.{table} where source_system = '{source}'")


def _day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.date


def test_landing_rerun_replaces_partitions_and_quarantines_bad_rows(
    pipeline_env: Path, truth: pd.DataFrame, catalogue: Catalogue
) -> None:
    _write_drops(truth, pipeline_env)  # pipeline_env points {data_dir} here
    _append_gb18030(_drop_file(pipeline_env, dt.date(2026, 10, 4)), BAD_NODE, BAD_TIME)
    lines = {
        day: len(pd.read_csv(_drop_file(pipeline_env, day), encoding="gb18030", dtype=str))
        for day in [*WINDOW_DAYS, dt.date(2026, 10, 7)]
    }
    cfg = _source("settlement_files")
    warehouse = warehouse_of_env()
    ensure_landing(warehouse)

    # A neighbouring partition landed once must survive the window's reruns untouched.
    neighbour = Window.for_days(dt.date(2026, 10, 7), dt.date(2026, 10, 7), settings_of_env().business_time_zone)
    land(warehouse, extract(cfg, neighbour, catalogue), neighbour)
    for _ in range(2):
        result = extract(cfg, _window(), catalogue)
        log = land(warehouse, result, _window())
    assert len(log) == len(WINDOW_DAYS)

    runs = _landing(warehouse, "interval_runs", "settlement_files")
    runs["day"] = _day(runs.partition_date)
    assert runs.groupby(["day", "source_row_key"]).size().max() == 1  # one copy of each row
    per_day = runs.groupby("day").size().to_dict()
    want = dict(lines)
    want[dt.date(2026, 10, 4)] -= 2
    assert per_day == want
    assert not runs.source_row_key.str.startswith("JSBAD").any()  # good rows of the batch loaded, bad ones not

    quarantine = _landing(warehouse, "quarantine", "settlement_files")
    assert len(quarantine) == 2
    by_reason = quarantine.set_index("reason_code")
    assert set(by_reason.index) == {"unknown_node", "unparseable_timestamp"}
    assert (_day(quarantine.partition_date) == dt.date(2026, 10, 4)).all()
    bad_node = json.loads(by_reason.loc["unknown_node", "raw_record"])
    bad_time = json.loads(by_reason.loc["unparseable_timestamp", "raw_record"])
    assert bad_node == dict(zip(gen.SETTLEMENT_HEADER, BAD_NODE.split(","), strict=True))
    assert bad_time == dict(zip(gen.SETTLEMENT_HEADER, BAD_TIME.split(","), strict=True))
    assert "start_at" in by_reason.loc["unparseable_timestamp", "reason_detail"]

    logged = _landing(warehouse, "extraction_log", "settlement_files")
    logged["day"] = _day(logged.partition_date)
    assert logged.day.is_unique and set(logged.day) == set(lines)
    logged = logged.set_index("day")
    assert (logged.rows_received == logged.rows_accepted + logged.rows_quarantined).all()
    assert logged.rows_received.to_dict() == lines
    assert logged.rows_quarantined.to_dict() == {day: 2 if day == dt.date(2026, 10, 4) else 0 for day in lines}


def test_landing_status_events_rerun_keeps_one_copy(
    pipeline_env: Path, ticket_api: str, window_events: pd.DataFrame, catalogue: Catalogue
) -> None:
    warehouse = warehouse_of_env()
    ensure_landing(warehouse)
    for _ in range(2):
        log = land(warehouse, extract(_small_pages(), _window(), catalogue), _window())
    assert (log.rows_received == log.rows_accepted + log.rows_quarantined).all()

    events = _landing(warehouse, "status_events", "ticket_api")
    assert len(events) == len(window_events)
    assert sorted(events.source_row_key.astype(int)) == sorted(window_events.event_id)
    assert _landing(warehouse, "quarantine", "ticket_api").empty

    logged = _landing(warehouse, "extraction_log", "ticket_api")
    logged["day"] = _day(logged.partition_date)
    assert logged.day.is_unique and set(logged.day) == set(WINDOW_DAYS)
    assert (logged.rows_received == logged.rows_accepted + logged.rows_quarantined).all()
    assert int(logged.rows_received.sum()) == len(window_events)


def test_undecodable_line_is_kept_as_its_mapped_fields(catalogue: Catalogue) -> None:
    """A line that is not in the file's encoding is cut into its fields for the quarantine, which keeps the
    mapped ones (undecodable bytes shown escaped), unless the source keeps the raw row: then the line as is."""
    from orchestration.landing.normalise import normalise
    from orchestration.sources.file import UNDECODABLE

    cfg = _source("settlement_files")
    header = [*cfg.columns.values(), "经办人手机"]  # one column the declaration does not map
    line = "JSX1,CJ-X-1,\\xff采集,政企渠道,财务部,采集员,2026/10/04 09:00:00,2026/10/04 10:00:00,,13912345678"
    raw = pd.DataFrame({**{c: pd.Series([], dtype="string") for c in header}, UNDECODABLE: []})
    raw = pd.concat([raw, pd.DataFrame({UNDECODABLE: [line], "_partition_date": [FIRST]})], ignore_index=True)

    mapped = normalise(cfg, raw, _window(), catalogue).quarantine
    whole = normalise(cfg.model_copy(update={"keep_raw_row": True}), raw, _window(), catalogue).quarantine

    assert list(mapped.reason_code) == list(whole.reason_code) == ["undecodable_bytes"]
    record = json.loads(mapped.raw_record.iloc[0])
    assert set(record) == set(cfg.columns.values()) and record["环节"] == "\\xff采集"
    assert "13912345678" not in mapped.raw_record.iloc[0]
    assert whole.raw_record.iloc[0] == line
