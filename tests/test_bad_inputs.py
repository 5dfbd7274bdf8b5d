"""The catalogue of bad inputs (tests/fixtures/bad_inputs): for each source kind a batch with one row
per fault, landed on DuckDB and PostgreSQL. Per fault: the row is quarantined with its reason code and
kept as received, every good row of the same batch still loads, and the counts reconcile. Faults that
make a whole batch unreadable (renamed columns, a page that is not JSON) reject it whole: nothing of it
is landed and the previous load stays as it was."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from dagster import AssetCheckSeverity

from orchestration.landing.batch import ensure_landing, extract, land
from orchestration.landing.tables import LANDING_BY_SHAPE
from orchestration.periods import Window
from orchestration.quality.reconcile import partition_counts
from orchestration.reference.catalogue import load_catalogue
from orchestration.sources.config import SourceConfig, load_source
from orchestration.sources.errors import SourceRejected
from orchestration.warehouse import Warehouse
from tests.conftest import settings_of_env, warehouse_of_env

FIXTURES = Path(__file__).parent / "fixtures" / "bad_inputs"
KINDS = ("sql", "file", "http")
DAYS = [date(2026, 10, 24), date(2026, 10, 25)]
KEY_COLUMN = {"sql": "task_id", "file": "记录编号", "http": "event_id"}


def expected(kind: str) -> dict:
    return yaml.safe_load((FIXTURES / kind / "expected.yaml").read_text(encoding="utf-8"))


def window() -> Window:
    return Window.for_days(DAYS[0], DAYS[-1], settings_of_env().business_time_zone)


# --- the three source systems, serving the catalogue's files --------------------------------------------


def sql_source(tmp: Path, table_csv: str, monkeypatch: pytest.MonkeyPatch) -> SourceConfig:
    """A SQLite database whose wf_task table holds the fixture rows as text, as an OA export would."""
    frame = pd.read_csv(FIXTURES / "sql" / table_csv, dtype=str, keep_default_na=False)
    path = tmp / f"{table_csv}.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        frame.to_sql("wf_task", engine, index=False, if_exists="replace")
    finally:
        engine.dispose()
    monkeypatch.setenv("BAD_SQL_URL", f"sqlite:///{path}")
    return load_source(FIXTURES / "sql" / "source.yaml", settings_of_env())


def file_source(folder: str) -> SourceConfig:
    cfg = load_source(FIXTURES / "file" / "source.yaml", settings_of_env())
    return cfg.model_copy(update={"path": str(FIXTURES / "file" / folder / "jiesuan_{date:%Y%m%d}.csv")})


class _Pages(BaseHTTPRequestHandler):
    """Serves page n of the server's page file; a page named in `raw_pages` is served as those bytes."""

    pages: list[dict] = []
    raw_pages: dict[int, bytes] = {}

    def do_GET(self) -> None:
        query = dict(p.split("=", 1) for p in self.path.split("?", 1)[-1].split("&") if "=" in p)
        page = int(query.get("page", "1"))
        body = self.raw_pages.get(page) or json.dumps(self.pages[page - 1], ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def serve_pages() -> Iterator:
    servers = []

    def serve(pages_file: str, raw_pages: dict[int, str] | None = None) -> str:
        handler = type(
            "Pages",
            (_Pages,),
            {
                "pages": json.loads((FIXTURES / "http" / pages_file).read_text(encoding="utf-8")),
                "raw_pages": {n: (FIXTURES / "http" / f).read_bytes() for n, f in (raw_pages or {}).items()},
            },
        )
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def http_source(url: str, monkeypatch: pytest.MonkeyPatch) -> SourceConfig:
    monkeypatch.setenv("BAD_HTTP_URL", url)
    return load_source(FIXTURES / "http" / "source.yaml", settings_of_env())


def good_source(kind: str, tmp: Path, serve_pages, monkeypatch: pytest.MonkeyPatch) -> SourceConfig:
    if kind == "sql":
        return sql_source(tmp, "wf_task.csv", monkeypatch)
    if kind == "file":
        return file_source("drops")
    return http_source(serve_pages("pages.json"), monkeypatch)


# --- one landing per kind and warehouse -----------------------------------------------------------------


@pytest.fixture(scope="module")
def landed(module_pipeline_env: Path, serve_pages) -> dict[str, SourceConfig]:
    """Each kind's bad batch extracted and landed once into the module's warehouse."""
    warehouse = warehouse_of_env()
    ensure_landing(warehouse)
    catalogue = load_catalogue(settings_of_env().processes_file)
    sources = {}
    with pytest.MonkeyPatch.context() as mp:
        for kind in KINDS:
            cfg = good_source(kind, module_pipeline_env, serve_pages, mp)
            land(warehouse, extract(cfg, window(), catalogue), window())
            sources[kind] = cfg
    return sources


def _landed_keys(warehouse: Warehouse, kind: str, cfg: SourceConfig) -> list[str]:
    rows = warehouse.query(
        f"select source_row_key from {warehouse.landing_schema}.{LANDING_BY_SHAPE[cfg.shape].name} "
        f"where source_system = '{cfg.name}'"
    )
    return sorted(rows.source_row_key)


def _quarantined(warehouse: Warehouse, cfg: SourceConfig, kind: str) -> pd.DataFrame:
    rows = warehouse.query(
        f"select partition_date, reason_code, reason_detail, raw_record from {warehouse.landing_schema}.quarantine "
        f"where source_system = '{cfg.name}'"
    )

    def key(raw: str) -> str:
        try:
            return str(json.loads(raw)[KEY_COLUMN[kind]])
        except json.JSONDecodeError:  # an undecodable line is kept as the line itself
            return raw.split(",", 1)[0]

    rows["key"] = rows.raw_record.map(key)
    return rows


FAULTS = [(kind, reason) for kind in KINDS for reason in expected(kind)["quarantined"]]


@pytest.mark.parametrize(("kind", "reason"), FAULTS, ids=[f"{k}-{r}" for k, r in FAULTS])
def test_bad_row_is_quarantined_with_its_reason_and_the_batch_still_loads(
    landed: dict[str, SourceConfig], kind: str, reason: str
) -> None:
    cfg, want = landed[kind], expected(kind)
    warehouse = warehouse_of_env()
    quarantine = _quarantined(warehouse, cfg, kind)

    # The faulty rows carry this reason, and no other row does.
    assert sorted(quarantine.key[quarantine.reason_code == reason]) == sorted(want["quarantined"][reason])
    assert quarantine.reason_detail.notna().all()
    # Every good row of the same batch loaded, once.
    assert _landed_keys(warehouse, kind, cfg) == sorted(want["accepted"])
    # Nothing lost: per partition received = accepted + quarantined, and the tables hold exactly that.
    counts = partition_counts(warehouse, cfg.name, cfg.shape, window())
    assert list(counts.partition_date) == DAYS
    assert counts.reconciled.all(), counts
    n_bad = sum(len(keys) for keys in want["quarantined"].values())
    assert int(counts.rows_received.sum()) == len(want["accepted"]) + n_bad
    assert int(counts.rows_quarantined.sum()) == len(quarantine) == n_bad


def test_quarantined_rows_are_kept_as_received(landed: dict[str, SourceConfig]) -> None:
    warehouse = warehouse_of_env()
    sql = _quarantined(warehouse, landed["sql"], "sql").set_index("key")
    source = pd.read_csv(FIXTURES / "sql" / "wf_task.csv", dtype=str, keep_default_na=False)
    row = source[source.task_id == "2002"].iloc[0]
    assert {k: v or None for k, v in json.loads(sql.loc["2002", "raw_record"]).items()} == {
        k: v or None for k, v in row.items()
    }
    undecodable = _quarantined(warehouse, landed["file"], "file").set_index("key").loc["F109"]
    # The bytes that are not GB18030 are shown escaped; the rest of the line reads as sent.
    assert "\\xff" in undecodable.raw_record and "采集员" in undecodable.raw_record
    assert pd.Timestamp(undecodable.partition_date).date() == DAYS[0]  # the day of its file
    # A line with a field count other than its header's is kept as its mapped fields, in its file's day: the
    # fields it lacks are null, fields beyond the header (they fit no column, and could be anything) are dropped.
    file_rows = _quarantined(warehouse, landed["file"], "file").set_index("key")
    cut, long = file_rows.loc["F110"], file_rows.loc["F111"]
    header = ["记录编号", "结算批次号", "环节", "渠道类型", "处理部门", "处理岗位", "开始时间", "完成时间", "作废时间"]
    assert json.loads(cut.raw_record) == dict(
        zip(
            header,
            ["F110", "JS-14", "数据采集", "政企渠道", "数据中心", "采集员", "2026/10/24 13:00:00", None, None],
            strict=True,
        )  # fmt: skip
    )
    assert cut.reason_detail == "line has 7 fields, its header 9: its last columns are missing"
    assert json.loads(long.raw_record) == dict(
        zip(header, ["F111", "JS-15", "酬金支付", "政企渠道", "财务部", "出纳", "2026/10/25 10:00:00",
                     "2026/10/25 11:00:00", ""], strict=True)
    )  # fmt: skip
    assert "多余" not in long.raw_record
    assert long.reason_detail == "line has 11 fields, its header 9: the extra fields fit no column"
    assert [pd.Timestamp(d).date() for d in (cut.partition_date, long.partition_date)] == DAYS
    assert file_rows.loc["F112"].reason_detail.startswith("end_at is later than extraction time")
    assert file_rows.loc["F113"].reason_detail.startswith("cancelled_at is later than extraction time")


def test_a_backslash_n_in_a_text_field_arrives_as_those_two_characters(landed: dict[str, SourceConfig]) -> None:
    """PostgreSQL's COPY must not read a value `\\N` as NULL (nor drop a backslash, a tab or a newline)."""
    warehouse = warehouse_of_env()
    row = warehouse.query(
        f"select position, department from {warehouse.landing_schema}.interval_runs where source_row_key = 'F007'"
    )
    assert row.to_dict("records") == [{"position": "\\N", "department": "财务部"}]
    tricky = ["\\N", "\\", "a\tb", "line\nbreak\r", '"quoted", comma', "", None]
    frame = pd.DataFrame({"source_system": "copy_probe", "reason_code": tricky, "raw_record": tricky})
    warehouse.append("quarantine", frame)
    back = warehouse.query(
        f"select reason_code, raw_record from {warehouse.landing_schema}.quarantine where source_system = 'copy_probe'"
    )
    as_read = back.reason_code.astype(object).where(back.reason_code.notna(), None).tolist()
    assert sorted(as_read, key=repr) == sorted(tricky, key=repr)  # the empty string is not NULL either
    assert (back.reason_code.fillna("<null>") == back.raw_record.fillna("<null>")).all()


REJECTIONS = [(kind, reason) for kind in KINDS for reason in expected(kind).get("rejected", {})]


@pytest.mark.parametrize(("kind", "reason"), REJECTIONS, ids=[f"{k}-{r}" for k, r in REJECTIONS])
def test_unreadable_batch_is_rejected_whole_and_the_previous_load_stays(
    landed: dict[str, SourceConfig],
    kind: str,
    reason: str,
    tmp_path: Path,
    serve_pages,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    variant = expected(kind)["rejected"][reason]
    if kind == "sql":
        cfg = sql_source(tmp_path, variant, monkeypatch)
    elif kind == "file":
        cfg = file_source(variant)
    elif reason == "invalid_json_page":
        cfg = http_source(serve_pages("pages.json", {2: variant}), monkeypatch)
    else:
        cfg = http_source(serve_pages(variant), monkeypatch)
    warehouse = warehouse_of_env()
    before = partition_counts(warehouse, cfg.name, cfg.shape, window())
    landed_before = _landed_keys(warehouse, kind, cfg)

    with pytest.raises(SourceRejected) as caught:
        land(warehouse, extract(cfg, window(), load_catalogue(settings_of_env().processes_file)), window())

    assert caught.value.reason_code == reason
    assert "whole" in str(caught.value) and cfg.name in str(caught.value)
    if reason == "invalid_json_page":
        assert "page 2" in str(caught.value) and "not valid JSON" in str(caught.value)  # names the bad page
    if reason == "repeated_page_token":  # names the page, the field and its value
        assert "page 2" in str(caught.value) and "'next_page' after page 3 is 2" in str(caught.value)
    if reason == "page_without_records":
        assert "page 1 of http://127.0.0.1:" in str(caught.value) and "no list in field 'data'" in str(caught.value)
        assert "fields found: ['items', 'next_page']" in str(caught.value)
    # Not half-loaded: landing, quarantine and log are exactly as the last good load left them.
    pd.testing.assert_frame_equal(partition_counts(warehouse, cfg.name, cfg.shape, window()), before)
    assert _landed_keys(warehouse, kind, cfg) == landed_before == sorted(expected(kind)["accepted"])


def test_every_reason_code_is_a_rule_in_the_order_it_is_tested_and_is_in_the_catalogue() -> None:
    """The rules are tested in this order (a row gets the first that rejects it), and the fault catalogue
    has a row for each of their reason codes in at least one kind of source."""
    from orchestration.landing.rules import REASON_CODES, RULES

    assert REASON_CODES == (
        "undecodable_bytes", "missing_fields", "extra_fields", "unparseable_timestamp", "local_time_not_unique",
        "duplicate_row", "missing_work_order_key", "missing_row_key", "unknown_process", "unknown_status",
        "unknown_node", "unknown_segment", "end_before_start", "start_in_future", "instant_in_future",
        "overlapping_run",
    )  # fmt: skip
    assert [r.name for r in RULES][:4] == ["decodable", "complete_lines", "parsed_instants", "placed_in_partitions"]
    assert set(REASON_CODES) == {reason for _, reason in FAULTS}


@pytest.mark.parametrize("keep_raw_row", [False, True], ids=["mapped_only", "keep_raw_row"])
def test_quarantine_keeps_only_mapped_columns_unless_the_source_opts_in(
    landed: dict[str, SourceConfig], keep_raw_row: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The OA table with a column the declaration does not map: personal data the pipeline has no use for.
    table = pd.read_csv(FIXTURES / "sql" / "wf_task.csv", dtype=str, keep_default_na=False)
    table["applicant_phone"] = "139" + table.task_id.str.zfill(8)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'oa.sqlite'}")
    try:
        table.to_sql("wf_task", engine, index=False)
    finally:
        engine.dispose()
    monkeypatch.setenv("BAD_SQL_URL", f"sqlite:///{tmp_path / 'oa.sqlite'}")
    name = "bad_sql_raw" if keep_raw_row else "bad_sql_mapped"
    cfg = load_source(FIXTURES / "sql" / "source.yaml", settings_of_env())
    cfg = cfg.model_copy(update={"name": name, "keep_raw_row": keep_raw_row})
    warehouse = warehouse_of_env()
    land(warehouse, extract(cfg, window(), load_catalogue(settings_of_env().processes_file)), window())

    quarantine = _quarantined(warehouse, cfg, "sql").set_index("key")
    assert sorted(quarantine.index) == sorted(k for keys in expected("sql")["quarantined"].values() for k in keys)
    kept = {key: json.loads(raw) for key, raw in quarantine.raw_record.items()}
    if keep_raw_row:
        assert all(set(row) == set(table.columns) for row in kept.values())
        assert kept["2002"]["applicant_phone"] == "13900002002"
    else:
        assert all(set(row) == set(cfg.columns.values()) for row in kept.values())
        assert not quarantine.raw_record.str.contains("139000").any()
    assert kept["2002"]["begin_time"] == "yesterday 9am"  # the mapped fields as received, either way


@pytest.mark.parametrize(
    ("entry", "value", "message"),
    [
        ("encoding", "utf-88", "encoding 'utf-88' is not an encoding Python knows"),
        ("path", "{data_dir}/drops/jiesuan_{dat:%Y%m%d}.csv", "unknown placeholder {dat}"),
        ("path", "{data_dir}/drops/jiesuan_{date:%Y%m%d.csv", "malformed placeholder"),
    ],
)
def test_a_declaration_with_an_unknown_encoding_or_placeholder_fails_at_load_naming_file_entry_and_value(
    tmp_path: Path, entry: str, value: str, message: str
) -> None:
    from orchestration.settings import Settings
    from orchestration.sources.config import SourceConfigError

    declaration = yaml.safe_load((FIXTURES / "file" / "source.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "bad_file.yaml"
    path.write_text(yaml.safe_dump({**declaration, entry: value}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SourceConfigError) as caught:
        load_source(path, Settings.load())
    assert str(path) in str(caught.value) and message in str(caught.value)
    assert "path" not in entry or value in str(caught.value)


def test_a_path_pattern_from_the_environment_is_checked_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = file_source("drops").model_copy(update={"path_env": "BAD_FILE_PATH"})
    monkeypatch.setenv("BAD_FILE_PATH", "/drops/jiesuan_{day}.csv")
    with pytest.raises(SourceRejected) as caught:
        extract(cfg, window(), load_catalogue(settings_of_env().processes_file))
    assert caught.value.reason_code == "bad_path_pattern"
    message = "source bad_file: BAD_FILE_PATH='/drops/jiesuan_{day}.csv': unknown placeholder {day}"
    assert str(caught.value).startswith(message)


# --- volume: a drop far below the source's recent days ----------------------------------------------------

HEADER = "记录编号,结算批次号,环节,渠道类型,处理部门,处理岗位,开始时间,完成时间,作废时间"
VOLUME_DAYS = [date(2026, 10, 20) + timedelta(days=i) for i in range(6)]
ROWS_PER_DAY = {d: 10 for d in VOLUME_DAYS[:4]} | {VOLUME_DAYS[4]: 0, VOLUME_DAYS[5]: 1}  # header-only, then 1


def _drops(folder: Path) -> SourceConfig:
    folder.mkdir()
    for day, n in ROWS_PER_DAY.items():
        lines = [
            f"V{day:%d}{i:02d},JS-{day:%d}-{i},数据采集,政企渠道,数据中心,采集员,"
            f"{day:%Y/%m/%d} 09:{i:02d}:00,{day:%Y/%m/%d} 10:{i:02d}:00,"
            for i in range(n)
        ]
        (folder / f"jiesuan_{day:%Y%m%d}.csv").write_text("\n".join([HEADER, *lines]) + "\n", encoding="gb18030")
    cfg = load_source(FIXTURES / "file" / "source.yaml", settings_of_env())
    return cfg.model_copy(update={"path": str(folder / "jiesuan_{date:%Y%m%d}.csv")})


def test_a_drop_far_below_the_recent_days_warns_and_an_empty_one_can_block(pipeline_env: Path) -> None:
    from orchestration.quality.gate import extract_and_check
    from orchestration.quality.held import held_partitions, refusal
    from orchestration.quality.volume import VOLUME

    cfg, warehouse = _drops(pipeline_env / "volume_drops"), warehouse_of_env()
    catalogue = load_catalogue(settings_of_env().processes_file)
    tz = settings_of_env().business_time_zone
    gate = extract_and_check(warehouse, cfg, Window.for_days(VOLUME_DAYS[0], VOLUME_DAYS[-1], tz), catalogue)

    volume = next(c for c in gate.checks if c.check_name == VOLUME)
    assert not volume.passed and volume.severity == AssetCheckSeverity.WARN  # the default: an empty day warns
    assert volume.description == (
        "2 partition(s) below 20% of the median of the previous 14 days (1 with no rows): "
        "2026-10-24 received 0 rows (recent median 10), 2026-10-25 received 1 rows (recent median 10)"
    )
    summary = gate.summary.set_index(gate.summary.partition_date.dt.date)
    # Only the low days are marked, and a warning blocks nothing.
    assert summary.failed_checks.to_dict() == {d: VOLUME if d in VOLUME_DAYS[4:] else "" for d in VOLUME_DAYS}
    assert (summary.blocking_failures == "").all() and held_partitions(warehouse, VOLUME_DAYS[-1]).empty
    assert int(summary.rows_received.sum()) == int(summary.rows_accepted.sum()) == 41

    # A source that never has a quiet day makes an empty one an error: it blocks, and is held for later runs.
    strict = cfg.model_copy(update={"volume": cfg.effective_volume.model_copy(update={"on_empty": "error"})})
    empty_day = VOLUME_DAYS[4]
    gate = extract_and_check(warehouse, strict, Window.for_days(empty_day, empty_day, tz), catalogue)
    volume = next(c for c in gate.checks if c.check_name == VOLUME)
    assert not volume.passed and volume.severity == AssetCheckSeverity.ERROR
    held = held_partitions(warehouse, VOLUME_DAYS[-1])
    assert held.to_dict("records") == [
        {"source_system": "bad_file", "partition_date": empty_day, "blocking_failures": VOLUME}
    ]
    assert "python -m orchestration.quality reprocess --source bad_file --partition 2026-10-24" in refusal(held, "x")
    assert held_partitions(warehouse, empty_day - timedelta(days=1)).empty  # an earlier window is not held


def test_volume_settings_come_from_the_pipeline_and_a_source_overrides_or_turns_them_off(tmp_path: Path) -> None:
    declaration = yaml.safe_load((FIXTURES / "file" / "source.yaml").read_text(encoding="utf-8"))
    for name, volume in (("own", {"on_empty": "error", "lookback_days": 7}), ("off", "off")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**declaration, "volume": volume}, allow_unicode=True), encoding="utf-8")
        cfg = load_source(path, settings_of_env())
        if volume == "off":
            assert not cfg.volume_checked
        else:
            assert cfg.effective_volume.model_dump() == {
                "lookback_days": 7, "min_history_days": 3, "warn_below": 0.2, "on_empty": "error"
            }  # fmt: skip


def test_a_landing_that_does_not_reconcile_fails_and_holds_its_partition(pipeline_env: Path) -> None:
    """A landed row the extraction log does not count (written by hand, or by a half-finished load):
    `rows_reconcile` fails for that partition only, blocks it, and later runs may not build on it."""
    from orchestration.quality.checks import ROWS_RECONCILE, evaluate_extraction
    from orchestration.quality.gate import extract_and_check
    from orchestration.quality.held import held_partitions
    from orchestration.quality.summary import summary_frame, write_summary

    cfg, warehouse = _drops(pipeline_env / "volume_drops"), warehouse_of_env()
    days = Window.for_days(VOLUME_DAYS[0], VOLUME_DAYS[3], settings_of_env().business_time_zone)
    extract_and_check(warehouse, cfg, days, load_catalogue(settings_of_env().processes_file))
    stray = warehouse.query(
        f"select * from {warehouse.landing_schema}.interval_runs where partition_date = '{VOLUME_DAYS[1]}' limit 1"
    )
    warehouse.append("interval_runs", stray)

    checks, counts, reasons = evaluate_extraction(warehouse, cfg, days)
    reconcile = next(c for c in checks if c.check_name == ROWS_RECONCILE)
    assert not reconcile.passed and reconcile.severity == AssetCheckSeverity.ERROR
    summary = summary_frame(cfg, counts, reasons, checks)
    assert summary.blocking_failures.tolist() == ["", ROWS_RECONCILE, "", ""]
    write_summary(warehouse, days, summary, cfg.name)
    assert held_partitions(warehouse, VOLUME_DAYS[3]).partition_date.tolist() == [VOLUME_DAYS[1]]
