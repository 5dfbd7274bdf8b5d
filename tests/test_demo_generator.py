"""The demo source systems: seeded truth, the three raw formats, their consistency with the truth, the
achievement spread the demo is tuned for, and the ticket API server."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import yaml

from demo import generator as gen
from demo.ticket_api_server import serve_in_background, serve_in_subprocess

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
START = dt.date(2026, 10, 1)
NOW = dt.datetime(2026, 11, 4, 10, 30, 15, tzinfo=dt.UTC)  # 18:30:15 in Shanghai
ORDERS_PER_DAY = 150
SHANGHAI = "Asia/Shanghai"

TRUTH_KEYS = ["work_order_id", "node_code", "visit"]


def _source_config(name: str) -> dict:
    return yaml.safe_load((CONFIG_DIR / "sources" / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return gen.generate_truth(START, NOW, ORDERS_PER_DAY)


@pytest.fixture(scope="module")
def data_dir(truth: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo")
    counts = gen.write_sources(truth, path, NOW)
    assert counts[gen.OA] == (truth["source_system"] == gen.OA).sum()
    return path


@pytest.fixture(scope="module")
def events(data_dir: Path) -> pd.DataFrame:
    lines = (data_dir / "sources" / "ticket_events.jsonl").read_text(encoding="utf-8").splitlines()
    return pd.DataFrame([json.loads(line) for line in lines])


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text, so frames from different sources compare by value."""
    return frame.astype({c: "str" for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})


def _truth_of(truth: pd.DataFrame, system: str) -> pd.DataFrame:
    part = truth[truth["source_system"] == system]
    return _plain(part).sort_values("source_key").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# The truth
# --------------------------------------------------------------------------------------------------


def test_truth_shape(truth: pd.DataFrame) -> None:
    assert list(truth.columns) == list(gen.TRUTH_COLUMNS)
    for column in ("start_at", "end_at", "cancelled_at"):
        assert str(truth[column].dt.tz) == "UTC"
    assert len(truth) > 10_000
    assert set(truth["segment"]) == {"政企", "VIP", "公众"}
    assert set(truth["source_system"]) == set(gen.SOURCE_SYSTEMS)
    assert not truth.duplicated(TRUTH_KEYS).any()
    assert not truth.duplicated(["source_system", "source_key"]).any()
    assert (truth["start_at"] <= NOW).all()
    assert truth["start_at"].min() >= pd.Timestamp("2026-09-30T16:00:00Z")  # 00:00 Shanghai
    assert ((truth["end_at"] > truth["start_at"]) | truth["end_at"].isna()).all()
    assert (truth["end_at"].isna() | truth["cancelled_at"].isna()).all()
    assert ((truth["end_at"] <= NOW) | truth["end_at"].isna()).all()
    patterns = {
        "REMUNERATION": r"CJ\d{8}-\d{6}",
        "BROADBAND": r"KD\d{8}-\d{6}",
        "COMPLAINT": r"TS\d{8}-\d{6}",
    }
    for process, pattern in patterns.items():
        keys = truth.loc[truth["process_code"] == process, "work_order_id"]
        assert keys.str.fullmatch(pattern).all(), process
    # A key's date is the business day its order started.
    first = truth.groupby("work_order_id")["start_at"].min()
    local_day = first.dt.tz_convert(SHANGHAI).dt.strftime("%Y%m%d")
    assert (first.index.str.slice(2, 10) == local_day.to_numpy()).all()


def test_process_mix(truth: pd.DataFrame) -> None:
    orders = truth.drop_duplicates("work_order_id")
    shares = orders["process_code"].value_counts(normalize=True)
    assert shares["REMUNERATION"] == pytest.approx(0.10, abs=0.03)
    assert shares["BROADBAND"] == pytest.approx(0.50, abs=0.04)
    assert shares["COMPLAINT"] == pytest.approx(0.40, abs=0.04)
    segments = orders["segment"].value_counts(normalize=True)
    assert segments["公众"] == pytest.approx(0.70, abs=0.04)


def test_nodes_and_owners_match_the_catalogue(truth: pd.DataFrame) -> None:
    catalogue = yaml.safe_load((CONFIG_DIR / "processes.yaml").read_text(encoding="utf-8"))["processes"]
    owners = {(p["code"], n["code"]): (n["department"], n["position"]) for p in catalogue for n in p["nodes"]}
    runs = _plain(truth).drop_duplicates(["process_code", "node_code", "department", "position"])
    for row in runs.itertuples():
        if (row.department, row.position) == (gen.HANDOVER_DEPARTMENT, gen.HANDOVER_POSITION):
            assert (row.process_code, row.node_code) == ("COMPLAINT", "HANDLE")
        else:
            assert owners[(row.process_code, row.node_code)] == (row.department, row.position)
    # Each (process, node) lives in one system.
    assert (truth.groupby(["process_code", "node_code"], observed=True)["source_system"].nunique() == 1).all()


def test_rework_handover_cancellation_and_open_runs(truth: pd.DataFrame) -> None:
    t = _plain(truth)
    complaint = t[t["process_code"] == "COMPLAINT"]
    reworked = complaint[(complaint["node_code"] == "REPLY") & (complaint["visit"] == 2)]["work_order_id"].unique()
    n_complaints = complaint["work_order_id"].nunique()
    assert 0.08 < len(reworked) / n_complaints < 0.22

    installs = t[(t["process_code"] == "BROADBAND") & (t["node_code"] == "INSTALL")]
    assert (installs["visit"] == 2).any()

    # Hand-over: 网络部 hands the HANDLE run to 政企客户部 at the very instant it ends.
    handle = complaint[complaint["node_code"] == "HANDLE"].sort_values(["work_order_id", "start_at"])
    taken = handle[handle["department"] == gen.HANDOVER_DEPARTMENT]
    assert 0.04 < len(taken) / len(handle) < 0.16
    before = handle.merge(taken[["work_order_id", "start_at"]], on="work_order_id", suffixes=("", "_taken"))
    before = before[before["end_at"] == before["start_at_taken"]]
    assert set(before["department"]) == {"网络部"}
    assert len(before) == len(taken)

    cancelled = t[t["cancelled_at"].notna()]
    assert set(zip(cancelled["process_code"], cancelled["node_code"], strict=True)) == {
        ("BROADBAND", "INSTALL"),
        ("REMUNERATION", "CALCULATE"),
    }
    assert cancelled["end_at"].isna().all()
    broadband = t[t["process_code"] == "BROADBAND"]["work_order_id"].nunique()
    share = (cancelled["process_code"] == "BROADBAND").sum() / broadband
    assert 0.01 < share < 0.08
    # Nothing follows a cancelled run.
    after = t.merge(cancelled[["work_order_id", "cancelled_at"]].rename(columns={"cancelled_at": "cut"}))
    assert (after["start_at"] <= after["cut"]).all()

    open_runs = t[t["end_at"].isna() & t["cancelled_at"].isna()]
    assert set(open_runs["source_system"]) == set(gen.SOURCE_SYSTEMS)


def test_same_seed_same_world(truth: pd.DataFrame, data_dir: Path, tmp_path: Path) -> None:
    again = gen.generate_truth(START, NOW, ORDERS_PER_DAY, seed=7)
    pd.testing.assert_frame_equal(truth, again)
    gen.write_sources(again, tmp_path, NOW)
    for relative in [
        "sources/ticket_events.jsonl",
        *sorted(p.relative_to(data_dir).as_posix() for p in (data_dir / "drops").rglob("*.csv")),
    ]:
        assert (tmp_path / relative).read_bytes() == (data_dir / relative).read_bytes(), relative
    tables = []
    for directory in (data_dir, tmp_path):
        with closing(sqlite3.connect(directory / "sources" / "oa_workflow.sqlite")) as conn:
            tables.append(conn.execute("select * from wf_task order by task_id").fetchall())
    assert tables[0] == tables[1]
    other = gen.generate_truth(START, NOW, ORDERS_PER_DAY, seed=8)
    assert not other["start_at"].equals(truth["start_at"])


def test_a_later_now_only_adds_to_history(truth: pd.DataFrame) -> None:
    """Each day draws from its own stream and ids are ranked by time: what existed stays as it was."""
    later = gen.generate_truth(START, NOW + dt.timedelta(days=2, hours=5), ORDERS_PER_DAY)
    seen = later[later["start_at"] <= NOW].copy()
    for column in ("end_at", "cancelled_at"):
        seen[column] = seen[column].where(seen[column] <= NOW)
    pd.testing.assert_frame_equal(seen.reset_index(drop=True), truth.reset_index(drop=True))


def test_orders_for_runs_hits_the_target() -> None:
    per_day = gen.orders_for_runs(20_000, START, NOW)
    runs = len(gen.generate_truth(START, NOW, per_day))
    assert 0.9 * 20_000 < runs < 1.1 * 20_000


# --------------------------------------------------------------------------------------------------
# Achievement spread against config/commitments.yaml
# --------------------------------------------------------------------------------------------------


def _seconds(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(min|h|d)", text).groups()
    return int(number) * {"min": 60, "h": 3600, "d": 86400}[unit]


def _limits(truth: pd.DataFrame) -> pd.DataFrame:
    """Commitment and tolerance (seconds) of each run: the version in force at its start, for its
    segment, falling back to segment '*'."""
    lines = yaml.safe_load((CONFIG_DIR / "commitments.yaml").read_text(encoding="utf-8"))["commitments"]
    versions = pd.DataFrame(lines)
    versions = versions[versions["node"] != "*"]

    def local(value) -> pd.Timestamp:
        return pd.Timestamp(str(value)).tz_localize(SHANGHAI) if pd.notna(value) else pd.NaT

    out = pd.DataFrame(index=truth.index, data={"commitment": np.nan, "tolerance": np.nan})
    for segment_rule in ("*", "own"):  # own segment lines override the default
        for v in versions.itertuples():
            if (segment_rule == "*") != (v.segment == "*"):
                continue
            valid_to = local(getattr(v, "valid_to", None))
            mask = (
                (truth["process_code"] == v.process)
                & (truth["node_code"] == v.node)
                & (truth["start_at"] >= local(v.valid_from))
                & ((truth["start_at"] < valid_to) if valid_to is not pd.NaT else True)
            )
            if v.segment != "*":
                mask &= truth["segment"] == v.segment
            out.loc[mask, "commitment"] = _seconds(v.commitment)
            out.loc[mask, "tolerance"] = _seconds(v.tolerance)
    return out


def test_achievement_spread(truth: pd.DataFrame) -> None:
    done = _plain(truth[truth["end_at"].notna()]).reset_index(drop=True)
    limits = _limits(done)
    assert limits["commitment"].notna().all(), "every demo node has a commitment"
    took = (done["end_at"] - done["start_at"]).dt.total_seconds()
    done["band"] = np.select(
        [took <= limits["commitment"], took <= limits["tolerance"]], ["normal", "acceptable"], "warning"
    )
    bands = done.groupby(["process_code", "node_code"])["band"].value_counts(normalize=True).unstack(fill_value=0)
    rate = bands["normal"]
    assert rate.max() >= 0.9 and rate.min() < 0.1, rate
    assert rate[("BROADBAND", "ACCEPT")] >= 0.9
    assert rate[("COMPLAINT", "REGISTER")] >= 0.9
    assert rate[("REMUNERATION", "REVIEW")] < 0.1
    middle = bands[(rate >= 0.1) & (rate < 0.9)]
    assert len(middle) >= 6
    assert (middle[["normal", "acceptable", "warning"]] > 0).all().all(), middle


# --------------------------------------------------------------------------------------------------
# OA workflow database
# --------------------------------------------------------------------------------------------------

LOCAL_TEXT = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"


def test_oa_table(truth: pd.DataFrame, data_dir: Path) -> None:
    cfg = _source_config("oa_workflow")
    with closing(sqlite3.connect(data_dir / "sources" / "oa_workflow.sqlite")) as conn:
        columns = [row[1] for row in conn.execute("pragma table_info(wf_task)")]
        table = pd.read_sql("select * from wf_task order by task_id", conn)
        # The extractor's own query runs as declared, with text window bounds.
        window = {"window_start": "2026-11-01 00:00:00", "window_end": "2026-11-02 00:00:00"}
        windowed = conn.execute(cfg["query"], window).fetchall()
    assert columns == list(gen.OA_COLUMNS)
    assert set(cfg["columns"].values()) <= set(columns)
    # Every task active in the window, none other: begun before its end, last changed since its start.
    active = table[(table.begin_time < window["window_end"]) & (table.update_time >= window["window_start"])]
    assert windowed and sorted(row[0] for row in windowed) == sorted(active.task_id)
    last_change = [max(t for t in row[7:10] if t) for row in windowed]
    assert any(t >= window["window_end"] for t in last_change)  # open at midnight, changed since

    for column in gen.OA_TIME_COLUMNS:
        present = table[column].dropna()
        assert present.str.fullmatch(LOCAL_TEXT).all(), column
    assert table["begin_time"].notna().all()
    latest = table[["begin_time", "end_time", "cancel_time"]].apply(lambda c: c.fillna("")).max(axis=1)
    assert (table["update_time"] == latest).all()

    expected = _truth_of(truth, gen.OA)
    assert len(table) == len(expected)
    # Mapped back through the source's own declaration, each row is its truth run.
    flows = {v: k for k, v in gen.OA_FLOW_TYPES.items()}
    assert flows == cfg["processes"]
    back = (
        pd.DataFrame(
            {
                "source_key": table["task_id"].astype(str),
                "work_order_id": table["flow_no"],
                "process_code": table["flow_type"].map(cfg["processes"]),
                "node_code": [
                    cfg["nodes"][cfg["processes"][f]][s]
                    for f, s in zip(table["flow_type"], table["step_name"], strict=True)
                ],
                "segment": table["cust_level"].map(cfg["segments"]),
                "department": table["dept_name"],
                "position": table["post_name"],
                "start_at": pd.to_datetime(table["begin_time"]).dt.tz_localize(SHANGHAI).dt.tz_convert("UTC"),
                "end_at": pd.to_datetime(table["end_time"]).dt.tz_localize(SHANGHAI).dt.tz_convert("UTC"),
            }
        )
        .sort_values("source_key")
        .reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(back, expected[back.columns], check_dtype=False)


def test_oa_frame_loads_through_sqlalchemy(truth: pd.DataFrame, tmp_path: Path) -> None:
    """write_oa_table is the path the MariaDB/PostgreSQL tests use; SQLite stands in for them here."""
    import sqlalchemy as sa

    frame = gen.oa_task_frame(truth)
    assert str(frame["begin_time"].dtype).startswith("datetime64") and frame["begin_time"].dt.tz is None
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'oa.sqlite'}")
    assert gen.write_oa_table(engine, frame) == len(frame)
    assert gen.write_oa_table(engine, frame.head(10)) == 10  # re-creates, does not append
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from wf_task")).scalar() == 10
    engine.dispose()


# --------------------------------------------------------------------------------------------------
# Settlement file drops
# --------------------------------------------------------------------------------------------------

SETTLEMENT_TEXT = r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}"


def _read_drop(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)


def test_settlement_files(truth: pd.DataFrame, data_dir: Path) -> None:
    cfg = _source_config("settlement_files")
    drop = data_dir / "drops" / "settlement"
    today = NOW.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    days = [START + dt.timedelta(days=i) for i in range((today - START).days + 1)]
    assert sorted(p.name for p in drop.iterdir()) == [f"jiesuan_{d:%Y%m%d}.csv" for d in days]

    frames = []
    for day in days:
        raw = (drop / f"jiesuan_{day:%Y%m%d}.csv").read_bytes()
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")  # really GB18030, not UTF-8 by accident
        header = next(csv.reader([raw.decode("gb18030").splitlines()[0]]))
        assert header == list(gen.SETTLEMENT_HEADER)
        frame = _read_drop(drop / f"jiesuan_{day:%Y%m%d}.csv")
        frame["day"] = day
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    assert set(rows["环节"]) <= set(cfg["nodes"]["REMUNERATION"])
    assert set(rows["渠道类型"]) == set(cfg["segments"])
    for column in ("开始时间", "完成时间", "作废时间"):
        present = rows.loc[rows[column] != "", column]
        assert present.str.fullmatch(SETTLEMENT_TEXT).all(), column

    def utc(column: str) -> pd.Series:
        local = pd.to_datetime(rows[column].replace("", None), format=cfg["timestamp_format"])
        return local.dt.tz_localize(cfg["time_zone"]).dt.tz_convert("UTC")

    def shanghai_day(values: pd.Series) -> pd.Series:
        return values.dt.tz_convert(SHANGHAI).dt.date

    start, end, void = utc("开始时间"), utc("完成时间"), utc("作废时间")
    # Every row changed on its file's day, and shows only what had happened by the end of that day.
    changed_today = (
        (shanghai_day(start) == rows["day"]) | (shanghai_day(end) == rows["day"]) | (shanghai_day(void) == rows["day"])
    )
    assert changed_today.all()
    assert (end.isna() | (shanghai_day(end) <= rows["day"])).all()
    assert (start.max() <= NOW) and (end.dropna().max() <= NOW)
    # Runs spanning days: open in the start day's file, closed in the end day's file.
    spanning = rows.groupby("记录编号").filter(lambda g: len(g) == 2)
    assert len(spanning) > 0
    first, second = spanning.groupby("记录编号").nth(0), spanning.groupby("记录编号").nth(1)
    assert ((first["完成时间"] == "") & (first["作废时间"] == "")).all()
    assert ((second["完成时间"] != "") | (second["作废时间"] != "")).all()
    assert (rows["作废时间"] != "").any()

    # The newest version of each record is its truth run.
    newest = rows.assign(start_at=start, end_at=end, cancelled_at=void).drop_duplicates("记录编号", keep="last")
    back = (
        pd.DataFrame(
            {
                "source_key": newest["记录编号"],
                "work_order_id": newest["结算批次号"],
                "node_code": newest["环节"].map(cfg["nodes"]["REMUNERATION"]),
                "segment": newest["渠道类型"].map(cfg["segments"]),
                "department": newest["处理部门"],
                "position": newest["处理岗位"],
                "start_at": newest["start_at"],
                "end_at": newest["end_at"],
                "cancelled_at": newest["cancelled_at"],
            }
        )
        .sort_values("source_key")
        .reset_index(drop=True)
    )
    expected = _truth_of(truth, gen.SETTLEMENT)
    pd.testing.assert_frame_equal(back, expected[back.columns], check_dtype=False)


# --------------------------------------------------------------------------------------------------
# Ticket API store
# --------------------------------------------------------------------------------------------------


def _entry_marked_runs(events: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """SEMANTICS.md's entry-marked rule, written plainly, to check the store against the truth."""
    runs = []
    ordered = events.sort_values(["changed_at", "event_id"])
    for _, ticket in ordered.groupby("order_no", sort=False):
        current: dict | None = None
        for ev in ticket.itertuples():
            at = pd.Timestamp(ev.changed_at)
            if ev.status in cfg["terminal_statuses"]:
                if current is not None:
                    current["end_at"] = at
                current = None
                continue
            if ev.status in cfg["cancelling_statuses"]:
                if current is not None:
                    current["cancelled_at"] = at
                current = None
                continue
            node = cfg["nodes"][cfg["processes"][ev.biz_type]][ev.status]
            if current is not None and current["node_code"] == node and current["department"] == ev.team:
                continue  # same node, same department: one run
            if current is not None:
                current["end_at"] = at
            current = {
                "source_key": str(ev.event_id),
                "work_order_id": ev.order_no,
                "process_code": cfg["processes"][ev.biz_type],
                "node_code": node,
                "segment": cfg["segments"][ev.customer_tier],
                "department": ev.team,
                "position": ev.role,
                "start_at": at,
                "end_at": pd.NaT,
                "cancelled_at": pd.NaT,
            }
            runs.append(current)
    frame = pd.DataFrame(runs)
    frame["visit"] = frame.sort_values("start_at").groupby(["work_order_id", "node_code"]).cumcount() + 1
    return frame


def test_ticket_store_format(events: pd.DataFrame, data_dir: Path) -> None:
    cfg = _source_config("ticket_api")
    first_line = (data_dir / "sources" / "ticket_events.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert list(json.loads(first_line)) == list(gen.TICKET_FIELDS)
    assert events["changed_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z").all()
    assert (events["event_id"].to_numpy() == np.arange(1, len(events) + 1)).all()
    assert events["changed_at"].is_monotonic_increasing
    assert events["ticket_id"].str.fullmatch(r"T\d{6}").all()
    assert (events.groupby("ticket_id")["order_no"].nunique() == 1).all()
    assert (events.groupby("order_no")["ticket_id"].nunique() == 1).all()
    assert set(events["customer_tier"]) == set(cfg["segments"])
    statuses = {
        "BROADBAND": {"INSTALLING", "CALLBACK", "CLOSED", "CANCELLED"},
        "COMPLAINT": {"REGISTERED", "HANDLING", "REPLYING", "CLOSED"},
    }
    for biz, allowed in statuses.items():
        assert set(events.loc[events["biz_type"] == biz, "status"]) == allowed
    # Rework: back to HANDLING after REPLYING; hand-over: HANDLING twice in a row with another team.
    complaint = events[events["biz_type"] == "COMPLAINT"].sort_values("event_id")
    previous = complaint.groupby("order_no")[["status", "team"]].shift()
    assert ((complaint["status"] == "HANDLING") & (previous["status"] == "REPLYING")).any()
    handover = (complaint["status"] == "HANDLING") & (previous["status"] == "HANDLING")
    assert handover.any() and (complaint.loc[handover, "team"] != previous.loc[handover, "team"]).all()


def test_ticket_store_yields_the_truth(truth: pd.DataFrame, events: pd.DataFrame) -> None:
    runs = _entry_marked_runs(events, _source_config("ticket_api"))
    runs = runs.sort_values("source_key").reset_index(drop=True)
    for column in ("start_at", "end_at", "cancelled_at"):
        runs[column] = pd.to_datetime(runs[column], utc=True)
    expected = _truth_of(truth, gen.TICKET_API)
    pd.testing.assert_frame_equal(runs, expected[runs.columns], check_dtype=False)


def test_every_truth_run_has_one_source_row(truth: pd.DataFrame, data_dir: Path, events: pd.DataFrame) -> None:
    with closing(sqlite3.connect(data_dir / "sources" / "oa_workflow.sqlite")) as conn:
        oa_keys = {str(k) for (k,) in conn.execute("select task_id from wf_task")}
    drop = data_dir / "drops" / "settlement"
    settlement_keys = set(pd.concat([_read_drop(p) for p in drop.glob("*.csv")])["记录编号"])
    opening = events[~events["status"].isin(["CLOSED", "CANCELLED"])]
    ticket_keys = set(opening["event_id"].astype(str))
    assert len(oa_keys) + len(settlement_keys) + len(ticket_keys) == len(truth)
    by_system = truth.groupby("source_system", observed=True)["source_key"].apply(set)
    assert by_system[gen.OA] == oa_keys
    assert by_system[gen.SETTLEMENT] == settlement_keys
    assert by_system[gen.TICKET_API] == ticket_keys


# --------------------------------------------------------------------------------------------------
# Ticket API server
# --------------------------------------------------------------------------------------------------


def _hours_into_start(hours: int) -> dt.datetime:
    midnight = dt.datetime.combine(START, dt.time(), tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return (midnight + dt.timedelta(hours=hours)).astimezone(dt.UTC)


def _fetch_all(url: str, params: dict, headers: dict | None = None) -> tuple[list[dict], int]:
    rows, page, pages = [], 1, 0
    while page is not None:
        response = requests.get(url, params={**params, "page": page}, headers=headers, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body["page"] == page
        rows += body["data"]
        page, pages = body["next_page"], pages + 1
    return rows, pages


def test_api_windows_and_pages(data_dir: Path, events: pd.DataFrame) -> None:
    server, base = serve_in_background(data_dir / "sources" / "ticket_events.jsonl", token="")
    url = base + "/api/v1/status-changes"
    try:
        # Window bounds on existing events: changed_from is inclusive, changed_to exclusive.
        lo, hi = events["changed_at"].iloc[1000], events["changed_at"].iloc[1400]
        expected = events[(events["changed_at"] >= lo) & (events["changed_at"] < hi)]
        assert expected["changed_at"].iloc[0] == lo and (events["changed_at"] == hi).any()
        rows, pages = _fetch_all(url, {"changed_from": lo, "changed_to": hi.replace("Z", "+00:00"), "page_size": 37})
        assert pages == -(-len(expected) // 37)
        assert [r["event_id"] for r in rows] == expected["event_id"].tolist()
        assert rows[0] == json.loads(expected.iloc[0].to_json(force_ascii=False))

        everything, _ = _fetch_all(url, {"page_size": 5000})
        assert len(everything) == len(events)

        beyond = requests.get(url, params={"changed_from": lo, "changed_to": hi, "page": 999}, timeout=10).json()
        assert beyond == {"data": [], "page": 999, "next_page": None}
        empty = requests.get(
            url,
            params={"changed_from": "2020-01-01T00:00:00Z", "changed_to": "2020-01-02T00:00:00Z"},
            timeout=10,
        )
        assert empty.json() == {"data": [], "page": 1, "next_page": None}
        assert requests.get(url, params={"page": 0}, timeout=10).status_code == 400
        assert requests.get(url, params={"changed_from": "yesterday"}, timeout=10).status_code == 400
        assert requests.get(base + "/api/v1/other", timeout=10).status_code == 404
    finally:
        server.shutdown()


def test_api_token(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_API_TOKEN", "s3cret")
    server, base = serve_in_background(data_dir / "sources" / "ticket_events.jsonl")
    url = base + "/api/v1/status-changes"
    try:
        assert requests.get(url, timeout=10).status_code == 401
        assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
        ok = requests.get(url, headers={"Authorization": "Bearer s3cret"}, params={"page_size": 3}, timeout=10)
        assert ok.status_code == 200 and len(ok.json()["data"]) == 3
    finally:
        server.shutdown()


def test_api_reloads_a_regenerated_store(tmp_path: Path) -> None:
    store = tmp_path / "ticket_events.jsonl"
    truth = gen.generate_truth(START, _hours_into_start(6), 50)
    gen.write_ticket_store(truth, store)
    server, base = serve_in_background(store, token="")
    url = base + "/api/v1/status-changes"
    try:
        before = len(_fetch_all(url, {"page_size": 5000})[0])
        later = gen.generate_truth(START, _hours_into_start(20), 50)
        gen.write_ticket_store(later, store)
        after = len(_fetch_all(url, {"page_size": 5000})[0])
        assert 0 < before < after
    finally:
        server.shutdown()


def test_api_in_a_process_of_its_own_serves_the_same_pages_and_stops(data_dir: Path) -> None:
    store = data_dir / "sources" / "ticket_events.jsonl"
    child = serve_in_subprocess(store, token="s3cret")
    server, base = serve_in_background(store, token="")
    try:
        assert child.process.pid != os.getpid() and child.process.poll() is None
        url = child.url + "/api/v1/status-changes"
        assert requests.get(url, timeout=10).status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        rows, _ = _fetch_all(url, {"page_size": 700}, headers=auth)
        assert rows == _fetch_all(base + "/api/v1/status-changes", {"page_size": 5000})[0]
    finally:
        server.shutdown()
        child.shutdown()
    assert child.process.returncode is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(url, timeout=5)
