"""Seeded generator of the three demo source systems (OA workflow DB, settlement file drops, ticket API).

The generator first draws the *truth*: every node run as the source systems know it at `now`. It then
writes each system in its own raw format (config/sources/*.yaml), so a test can run the pipeline on the
files and compare its base table with the truth run by run.

Design choices worth knowing:

* Each business day draws its orders from its own random stream, seeded by (seed, calendar date), so
  a day's orders do not depend on `start` or `now`. Every id (work-order key, task_id, 记录编号,
  event_id, ticket_id) is ranked by time, so a later `now` only adds to the history and never changes
  ids already handed out: closed periods stay as they were when the demo is regenerated.
* Everything is vectorised over orders; Python only loops over days, processes and the few steps of a
  process.
* Times are whole seconds: every source format has second resolution, so the truth survives the round
  trip through the files exactly.
* Some events fall exactly on boundaries, so the demo, the tests and the benchmark exercise the half-open
  rule (SEMANTICS.md "State as of an instant T") every run: each day's first order starts at 00:00:00
  business time (so every week and month starts with one too), and about one run in a hundred ends (or
  is cancelled) exactly at the next business midnight, another at the next whole hour, where a pinned
  `now` falls. None of this depends on `now`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

BUSINESS_TZ = "Asia/Shanghai"  # business days (and the settlement file of each day) follow this calendar
OA_TZ = "Asia/Shanghai"
SETTLEMENT_TZ = "Asia/Urumqi"  # the settlement system runs on Xinjiang time (UTC+6)

OA = "oa_workflow"
SETTLEMENT = "settlement_files"
TICKET_API = "ticket_api"
SOURCE_SYSTEMS = (OA, SETTLEMENT, TICKET_API)

SEGMENTS = ("政企", "VIP", "公众")
SEGMENT_SHARES = (0.15, 0.15, 0.70)

# Hand-overs: a complaint handler passes the ticket to the enterprise-customer team midway.
HANDOVER_DEPARTMENT = "政企客户部"
HANDOVER_POSITION = "客户经理"

MIN_RUN_S = 120  # no run is shorter: two events of a ticket never share a timestamp
MAX_RUN_S = 30 * 86400
MAX_GAP_S = 30 * 60  # idle time between two nodes when an interval source is involved
BOUNDARY_EVERY = 100  # one run in this many ends exactly at the next business midnight, one at the next hour
NAT = np.iinfo(np.int64).min  # numpy's NaT: int64 seconds with this value view as NaT


@dataclass(frozen=True)
class Node:
    process: str
    code: str
    department: str
    position: str
    source: str
    # Lognormal durations: median per segment (政企, VIP, 公众) in hours, and the log-scale spread.
    # Tuned against config/commitments.yaml; the comment gives the share within the commitment limit.
    median_hours: tuple[float, float, float]
    sigma: float


# The node owners repeat config/processes.yaml on purpose: these are the simulated source systems,
# which know their own departments; the pipeline's catalogue must agree with them, not the other way.
NODES = (
    Node("REMUNERATION", "COLLECT", "数据中心", "数据专员", SETTLEMENT, (36, 36, 36), 0.5),  # 2d: ~72%
    Node("REMUNERATION", "CALCULATE", "财务部", "结算会计", SETTLEMENT, (18, 18, 20), 0.6),  # 1d: ~65%
    Node("REMUNERATION", "REVIEW", "审计部", "稽核员", OA, (66, 66, 66), 0.4),  # 1d: <1%, chronically late
    Node("REMUNERATION", "APPROVE", "市场部", "部门经理", OA, (8, 8, 10), 0.9),  # 1d: ~83%
    Node("REMUNERATION", "PAY", "财务部", "出纳", SETTLEMENT, (60, 60, 60), 0.5),  # 3d: ~64%
    Node("BROADBAND", "ACCEPT", "营业厅", "营业员", OA, (0.12, 0.12, 0.15), 0.7),  # 30min: ~96%
    Node("BROADBAND", "DISPATCH", "调度中心", "调度员", OA, (1.0, 0.7, 1.3), 0.6),  # 2h (VIP 1h): ~75%
    Node("BROADBAND", "INSTALL", "装维中心", "装维工程师", TICKET_API, (16, 18, 30), 0.5),  # 24-48h: ~75%
    Node("BROADBAND", "FOLLOWUP", "客服中心", "回访专员", TICKET_API, (12, 12, 16), 0.8),  # 24h: ~70%
    Node("COMPLAINT", "REGISTER", "客服中心", "坐席", TICKET_API, (0.2, 0.2, 0.25), 0.6),  # 1h: ~99%
    Node("COMPLAINT", "HANDLE", "网络部", "处理工程师", TICKET_API, (12, 9, 20), 0.7),  # 24h (VIP 12h): ~65%
    Node("COMPLAINT", "REPLY", "客服中心", "投诉专员", TICKET_API, (2, 2, 2.5), 0.6),  # 4h: ~78%
)
NODE_INDEX = {(n.process, n.code): i for i, n in enumerate(NODES)}


@dataclass(frozen=True)
class Step:
    """One slot of a process's path. Optional slots are taken only by orders drawn for them."""

    node: str
    when: str = "always"  # "always" | "rework" | "handover"
    cancel_point: bool = False  # where a cancelled order is cancelled


@dataclass(frozen=True)
class Process:
    code: str
    key_prefix: str
    share: float
    steps: tuple[Step, ...]
    rework_rate: float = 0.0
    handover_rate: float = 0.0
    cancel_rate: float = 0.0


PROCESSES = (
    Process(
        "REMUNERATION",
        "CJ",
        0.10,
        (Step("COLLECT"), Step("CALCULATE", cancel_point=True), Step("REVIEW"), Step("APPROVE"), Step("PAY")),
        cancel_rate=0.02,  # batches voided during calculation (作废)
    ),
    Process(
        "BROADBAND",
        "KD",
        0.50,
        # A failed follow-up call sends the engineer out again: INSTALL, FOLLOWUP, INSTALL, FOLLOWUP.
        (
            Step("ACCEPT"),
            Step("DISPATCH"),
            Step("INSTALL", cancel_point=True),
            Step("FOLLOWUP"),
            Step("INSTALL", when="rework"),
            Step("FOLLOWUP", when="rework"),
        ),
        rework_rate=0.05,
        cancel_rate=0.04,
    ),
    Process(
        "COMPLAINT",
        "TS",
        0.40,
        # A customer unhappy with the reply sends the complaint back to handling.
        (
            Step("REGISTER"),
            Step("HANDLE"),
            Step("HANDLE", when="handover"),
            Step("REPLY"),
            Step("HANDLE", when="rework"),
            Step("REPLY", when="rework"),
        ),
        rework_rate=0.15,
        handover_rate=0.10,
    ),
)
MAX_STEPS = max(len(p.steps) for p in PROCESSES)

DEPARTMENTS = tuple(dict.fromkeys([n.department for n in NODES] + [HANDOVER_DEPARTMENT]))
POSITIONS = tuple(dict.fromkeys([n.position for n in NODES] + [HANDOVER_POSITION]))

# How each system spells the canonical codes (must match config/sources/*.yaml).
OA_FLOW_TYPES = {"REMUNERATION": "CJGL", "BROADBAND": "KDZJ"}
OA_STEP_NAMES = {"REVIEW": "稽核", "APPROVE": "审批", "ACCEPT": "受理", "DISPATCH": "派单"}
OA_CUST_LEVELS = {"政企": "ZQ", "VIP": "VIP", "公众": "GZ"}
SETTLEMENT_STEPS = {"COLLECT": "数据采集", "CALCULATE": "酬金计算", "PAY": "酬金支付"}
SETTLEMENT_CHANNELS = {"政企": "政企渠道", "VIP": "VIP渠道", "公众": "社会渠道"}
SETTLEMENT_HEADER = (
    "记录编号",
    "结算批次号",
    "环节",
    "渠道类型",
    "处理部门",
    "处理岗位",
    "开始时间",
    "完成时间",
    "作废时间",
)
TICKET_STATUSES = {
    ("BROADBAND", "INSTALL"): "INSTALLING",
    ("BROADBAND", "FOLLOWUP"): "CALLBACK",
    ("COMPLAINT", "REGISTER"): "REGISTERED",
    ("COMPLAINT", "HANDLE"): "HANDLING",
    ("COMPLAINT", "REPLY"): "REPLYING",
}
TICKET_CLOSED = "CLOSED"
TICKET_CANCELLED = "CANCELLED"
TICKET_TIERS = {"政企": "GOV", "VIP": "VIP", "公众": "PUBLIC"}
TICKET_FIELDS = (
    "event_id",
    "ticket_id",
    "order_no",
    "biz_type",
    "status",
    "changed_at",
    "team",
    "role",
    "customer_tier",
)

TRUTH_COLUMNS = (
    "work_order_id",
    "process_code",
    "node_code",
    "visit",
    "segment",
    "department",
    "position",
    "start_at",
    "end_at",
    "cancelled_at",
    "source_system",
    "source_key",
)


# --------------------------------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------------------------------


def _day_start_utc(day: dt.date) -> int:
    """Epoch seconds of 00:00 Asia/Shanghai on `day`."""
    return int(dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(BUSINESS_TZ)).timestamp())


def _business_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(ZoneInfo(BUSINESS_TZ)).date()


def _require_utc_aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")


def _to_utc_series(seconds: np.ndarray) -> pd.Series:
    """int64 epoch seconds (NAT = missing) -> tz-aware UTC datetimes."""
    return pd.Series(seconds.view("datetime64[s]").astype("datetime64[us]")).dt.tz_localize("UTC")


def _epoch_seconds(values: pd.Series) -> np.ndarray:
    """tz-aware datetimes -> int64 epoch seconds, NaT -> NAT."""
    return values.dt.tz_convert(None).to_numpy(dtype="datetime64[s]").view(np.int64)


def _local_naive(values: pd.Series, tz: str) -> pd.Series:
    return values.dt.tz_convert(tz).dt.tz_localize(None)


def _naive_text(local: pd.Series) -> pa.Array:
    """'YYYY-MM-DD HH:MM:SS' of naive datetimes; nulls stay null. Arrow's cast to text is vectorised C++,
    where pc.strftime and pandas' dt.strftime are some 20x slower."""
    return pc.cast(pa.array(local.astype("datetime64[s]")), pa.large_string())


def _time_text(values: pd.Series, tz: str, date_sep: str = "-", time_sep: str = " ", suffix: str = "") -> pa.Array:
    """Wall-clock text of tz-aware datetimes in `tz`, e.g. 2026/11/03 10:15:00 or 2026-11-03T02:15:00Z."""
    text = _naive_text(_local_naive(values, tz))
    if date_sep != "-":
        text = pc.replace_substring(text, "-", date_sep)
    if time_sep != " ":
        text = pc.utf8_replace_slice(text, start=10, stop=11, replacement=time_sep)
    if suffix:
        text = pc.binary_join_element_wise(text, _text(suffix), _text(""))
    return text


def _arrow_text(values: pd.Series, mapping: dict[str, str] | None = None) -> pa.Array:
    """Text column as Arrow, optionally renamed through `mapping`; categoricals go through their codes
    so each distinct value is converted once."""
    if mapping is None and not isinstance(values.dtype, pd.CategoricalDtype):
        return pc.cast(pa.array(values), pa.large_string())
    categorical = pd.Categorical(values)
    categories = [str(c) for c in categorical.categories]
    labels = [mapping.get(c) for c in categories] if mapping is not None else categories
    codes = categorical.codes
    text = pa.array(labels, pa.large_string()).take(pa.array(codes, mask=codes < 0))
    if mapping is not None and text.null_count > int((codes < 0).sum()):
        raise ValueError(f"values without a source spelling: {sorted(set(categories) - set(mapping))}")
    return text


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, pa.large_string())


def _pandas_text(values: pa.Array) -> pd.Series:
    return pd.Series(values.to_pandas(), dtype="str")


def _local_day_numbers(values: pd.Series, tz: str) -> np.ndarray:
    """Days since 1970-01-01 of each instant's local calendar date (NaT -> NAT)."""
    return _local_naive(values, tz).to_numpy(dtype="datetime64[D]").view(np.int64)


# --------------------------------------------------------------------------------------------------
# Drawing the truth
# --------------------------------------------------------------------------------------------------


def _pick(u: np.ndarray, shares: tuple[float, ...]) -> np.ndarray:
    edges = np.cumsum(shares)
    edges[-1] = 1.0  # guard against shares summing to 0.9999…
    return np.searchsorted(edges, u, side="right").astype(np.int8)


def _business_days(start: dt.date, now: dt.datetime) -> list[dt.date]:
    last = _business_day(now)
    return [start + dt.timedelta(days=i) for i in range((last - start).days + 1)]


def _draw_orders(start: dt.date, now_s: int, orders_per_day: int, seed: int) -> dict[str, np.ndarray]:
    """Order-level random draws, one independent stream per calendar day (see the module docstring)."""
    chunks: list[dict[str, np.ndarray]] = []
    n = orders_per_day
    for day_no, day in enumerate(_business_days(start, dt.datetime.fromtimestamp(now_s, dt.UTC))):
        rng = np.random.default_rng([seed, day.toordinal()])
        day_start = _day_start_utc(day)
        day_len = _day_start_utc(day + dt.timedelta(days=1)) - day_start
        # The draw order below is part of the seed's meaning: keep it when adding draws (append new ones).
        draws = {
            "start": day_start + rng.integers(0, day_len, n, dtype=np.int64),
            "process": _pick(rng.random(n), tuple(p.share for p in PROCESSES)),
            "segment": _pick(rng.random(n), SEGMENT_SHARES),
            "flags": rng.random((n, 4), dtype=np.float32),  # rework, hand-over, cancel, split point
            "z": rng.standard_normal((n, MAX_STEPS), dtype=np.float32),
            "gap": rng.integers(0, MAX_GAP_S + 1, (n, MAX_STEPS), dtype=np.int32),
            "day": np.full(n, day_no, dtype=np.int32),
        }
        draws["start"][:1] = day_start  # an order at exactly 00:00:00: every day, week and month starts with one
        keep = draws["start"] <= now_s
        chunks.append({k: v[keep] for k, v in draws.items()})
    orders = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    # Orders in order of their start: ranks by time are then simply positions.
    by_start = np.argsort(orders["start"], kind="stable")
    return {k: v[by_start] for k, v in orders.items()}


def _durations(node: Node, segment: np.ndarray, z: np.ndarray) -> np.ndarray:
    log_median = np.log(np.asarray(node.median_hours) * 3600.0)[segment]
    seconds = np.exp(log_median + node.sigma * z.astype(np.float64))
    return np.clip(np.rint(seconds), MIN_RUN_S, MAX_RUN_S).astype(np.int64)


def _walk_process(pi: int, orders: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """All runs of one process's orders: one vectorised pass per step of the process path."""
    proc = PROCESSES[pi]
    idx = np.flatnonzero(orders["process"] == pi)
    m = idx.size
    segment = orders["segment"][idx]
    z = orders["z"][idx]
    gaps = orders["gap"][idx].astype(np.int64)
    u_rework, u_handover, u_cancel, u_split = orders["flags"][idx].T.astype(np.float64)

    cancel = u_cancel < proc.cancel_rate
    rework = (u_rework < proc.rework_rate) & ~cancel  # a cancelled order never comes back
    handover = u_handover < proc.handover_rate

    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("order", "step", "node", "dept", "pos", "visit", "start", "end", "cancel")
    }
    clock = orders["start"][idx].copy()  # when the order's previous run ended
    active = np.ones(m, dtype=bool)
    first = np.ones(m, dtype=bool)
    prev_api = np.zeros(m, dtype=bool)
    visits = {code: np.zeros(m, dtype=np.int32) for code in {s.node for s in proc.steps}}
    carry = np.zeros(m, dtype=np.int64)  # second half of a handed-over run

    for k, step in enumerate(proc.steps):
        node_id = NODE_INDEX[(proc.code, step.node)]
        node = NODES[node_id]
        include = active & {"always": True, "rework": rework, "handover": handover}[step.when]
        is_api = node.source == TICKET_API
        # Status events chain the runs of a ticket back to back; interval sources leave idle gaps.
        gap = np.where(first | (prev_api & is_api), 0, gaps[:, k])
        begin = clock + gap

        if step.when == "handover":
            duration = carry
        else:
            duration = _durations(node, segment, z[:, k])
            nxt = proc.steps[k + 1] if k + 1 < len(proc.steps) else None
            if nxt is not None and nxt.when == "handover":
                head = np.clip(np.rint(duration * (0.2 + 0.6 * u_split)), 60, duration - 60).astype(np.int64)
                carry = duration - head
                duration = np.where(handover, head, duration)
        snap = (orders["start"][idx] + k) % BOUNDARY_EVERY  # 0: to the next midnight, 1: to the next hour
        duration = _to_boundary(begin + duration, snap) - begin
        end = begin + duration
        cancelled = np.full(m, NAT, dtype=np.int64)
        if step.cancel_point:
            cut = include & cancel
            cut_after = np.clip(np.rint(duration * (0.1 + 0.8 * u_split)), 60, None).astype(np.int64)
            cancelled = np.where(cut, _to_boundary(begin + cut_after, snap), NAT)
            end = np.where(cut, NAT, end)
            active = active & ~cancel

        visits[step.node] += include
        sel = np.flatnonzero(include)
        dept = NODES[node_id].department if step.when != "handover" else HANDOVER_DEPARTMENT
        pos = NODES[node_id].position if step.when != "handover" else HANDOVER_POSITION
        out["order"].append(idx[sel])
        out["step"].append(np.full(sel.size, k, dtype=np.int8))
        out["node"].append(np.full(sel.size, node_id, dtype=np.int8))
        out["dept"].append(np.full(sel.size, DEPARTMENTS.index(dept), dtype=np.int8))
        out["pos"].append(np.full(sel.size, POSITIONS.index(pos), dtype=np.int8))
        out["visit"].append(visits[step.node][sel].copy())
        out["start"].append(begin[sel])
        out["end"].append(end[sel])
        out["cancel"].append(cancelled[sel])

        clock = np.where(include, begin + duration, clock)
        prev_api = np.where(include, is_api, prev_api)
        first &= ~include
    return out


def _to_boundary(instants: np.ndarray, snap: np.ndarray) -> np.ndarray:
    """Instants moved up to the next business midnight where snap == 0, the next whole hour where
    snap == 1 (an instant already on it stays); the others unchanged."""
    midnight = _day_start_utc(dt.date(2000, 1, 1)) % 86400  # the business zone keeps one offset
    to_midnight = instants + (midnight - instants) % 86400
    to_hour = instants + (-instants) % 3600
    return np.where(snap == 0, to_midnight, np.where(snap == 1, to_hour, instants))


def _order_keys(orders: dict[str, np.ndarray], days: list[dt.date]) -> pa.Array:
    """Work-order keys like KD20261103-000456: process prefix, business day, rank of the start that day."""
    n = orders["start"].size
    group = orders["process"].astype(np.int64) * (len(days) + 1) + orders["day"]
    by_group = np.argsort(group, kind="stable")  # stable: within a group still in start order
    g = group[by_group]
    first_of_group = np.r_[True, g[1:] != g[:-1]]
    group_start = np.maximum.accumulate(np.where(first_of_group, np.arange(n), 0))
    seq = np.empty(n, dtype=np.int64)
    seq[by_group] = np.arange(n) - group_start + 1

    prefixes = pa.array([p.key_prefix for p in PROCESSES]).take(pa.array(orders["process"].astype(np.int32)))
    dates = pa.array([d.strftime("%Y%m%d") for d in days]).take(pa.array(orders["day"]))
    seq_text = pc.utf8_lpad(pc.cast(pa.array(seq), pa.string()), width=6, padding="0")
    return pc.binary_join_element_wise(pc.binary_join_element_wise(prefixes, dates, ""), seq_text, "-")


def _sort_order(*keys: np.ndarray) -> np.ndarray:
    """Positions that sort by the keys, first key first (np.lexsort takes them the other way round).
    Non-negative-izing each key and packing them into one int64 when their ranges fit makes a single
    sort, several times faster than lexsort on millions of rows."""
    if not keys[0].size:
        return np.zeros(0, dtype=np.int64)
    shifted, widths = [], []
    for key in keys:
        low, high = int(key.min()), int(key.max())
        shifted.append(key.astype(np.int64) - low)
        widths.append(max(1, (high - low).bit_length()))
    if sum(widths) > 62:
        return np.lexsort(keys[::-1])
    packed = np.zeros(keys[0].size, dtype=np.int64)
    for key, width in zip(shifted, widths, strict=True):
        packed = (packed << width) | key
    return np.argsort(packed, kind="stable")


def _rank(start: np.ndarray, order: np.ndarray, step: np.ndarray) -> np.ndarray:
    """1-based rank by (start, order, step): ids handed out in time order, as a live system would."""
    ranks = np.empty(start.size, dtype=np.int64)
    ranks[_sort_order(start, order, step)] = np.arange(1, start.size + 1)
    return ranks


def generate_truth(start: dt.date, now: dt.datetime, orders_per_day: int, seed: int = 7) -> pd.DataFrame:
    """The node runs that the three source systems know at `now`.

    Work orders start uniformly over [00:00 Asia/Shanghai of `start`, `now`]; only runs that started by
    `now` exist; `end_at` / `cancelled_at` are null until they happen. Columns: TRUTH_COLUMNS, where
    `source_system` names the system that yields the run and `source_key` its key there (OA task_id,
    settlement 记录编号, or the event_id of the ticket event that opens the run). Low-cardinality
    text columns are categoricals.
    """
    _require_utc_aware(now)
    if orders_per_day < 1:
        raise ValueError("orders_per_day must be at least 1")
    now_s = math.floor(now.timestamp())
    if now_s <= _day_start_utc(start):
        raise ValueError("now must be after the start of the first business day")

    days = _business_days(start, now)
    orders = _draw_orders(start, now_s, orders_per_day, seed)
    walks = [_walk_process(pi, orders) for pi in range(len(PROCESSES))]
    runs = {k: np.concatenate([part for w in walks for part in w[k]]) for k in walks[0]}

    # Only what has happened by `now` exists.
    exists = runs["start"] <= now_s
    runs = {k: v[exists] for k, v in runs.items()}
    runs["end"] = np.where(runs["end"] <= now_s, runs["end"], NAT)
    runs["cancel"] = np.where(runs["cancel"] <= now_s, runs["cancel"], NAT)
    by_order = _sort_order(runs["order"], runs["step"])
    runs = {k: v[by_order] for k, v in runs.items()}

    node_source = np.array([SOURCE_SYSTEMS.index(n.source) for n in NODES], dtype=np.int8)[runs["node"]]
    node_process = np.array([PROCESSES.index(_process(n.process)) for n in NODES], dtype=np.int8)

    # Stable keys of interval-source rows; ticket event ids are ranked over all events further down.
    source_no = np.zeros(runs["start"].size, dtype=np.int64)
    for si in (SOURCE_SYSTEMS.index(OA), SOURCE_SYSTEMS.index(SETTLEMENT)):
        m = node_source == si
        source_no[m] = _rank(runs["start"][m], runs["order"][m], runs["step"][m])

    order_keys = _order_keys(orders, days)
    truth = pd.DataFrame(
        {
            "work_order_id": order_keys.take(pa.array(runs["order"])).to_pandas(),
            "process_code": _categorical(node_process[runs["node"]], [p.code for p in PROCESSES]),
            "node_code": _categorical(runs["node"], _unique([n.code for n in NODES]), [n.code for n in NODES]),
            "visit": runs["visit"].astype(np.int64),
            "segment": _categorical(orders["segment"][runs["order"]], SEGMENTS),
            "department": _categorical(runs["dept"], DEPARTMENTS),
            "position": _categorical(runs["pos"], POSITIONS),
            "start_at": _to_utc_series(runs["start"]),
            "end_at": _to_utc_series(runs["end"]),
            "cancelled_at": _to_utc_series(runs["cancel"]),
            "source_system": _categorical(node_source, SOURCE_SYSTEMS),
        }
    )

    # A ticket run's key is the id of the event that opens it.
    events = ticket_events(truth)
    opening = events[events["truth_row"] >= 0]
    source_no[opening["truth_row"].to_numpy()] = opening["event_id"].to_numpy()
    is_settlement = pa.array(node_source == SOURCE_SYSTEMS.index(SETTLEMENT))
    number_text = pc.cast(pa.array(source_no), pa.large_string())
    settlement_text = pc.binary_join_element_wise(
        _text("JS"), pc.utf8_lpad(number_text, width=8, padding="0"), _text("")
    )
    truth["source_key"] = _pandas_text(pc.if_else(is_settlement, settlement_text, number_text))
    return truth


def _process(code: str) -> Process:
    return next(p for p in PROCESSES if p.code == code)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _categorical(codes: np.ndarray, categories, labels=None) -> pd.Categorical:
    """Categorical from integer codes; `labels` maps a code to its category when they differ."""
    categories = list(categories)
    if labels is not None:
        remap = np.array([categories.index(label) for label in labels], dtype=np.int16)
        codes = remap[codes]
    return pd.Categorical.from_codes(codes.astype(np.int16), categories=categories)


def expected_runs_per_order() -> float:
    """Mean number of node runs of one (finished) work order, from the process mix and rates."""
    total = 0.0
    for proc in PROCESSES:
        cancel_at = next((k for k, s in enumerate(proc.steps) if s.cancel_point), None)
        always = sum(s.when == "always" for s in proc.steps)
        runs = always + proc.rework_rate * (1 - proc.cancel_rate) * sum(s.when == "rework" for s in proc.steps)
        runs += proc.handover_rate * sum(s.when == "handover" for s in proc.steps)
        if cancel_at is not None:
            runs -= proc.cancel_rate * sum(s.when == "always" for s in proc.steps[cancel_at + 1 :])
        total += proc.share * runs
    return total


def orders_for_runs(n_runs: int, start: dt.date, now: dt.datetime) -> int:
    """orders_per_day that yields about `n_runs` node runs between `start` and `now`."""
    _require_utc_aware(now)
    days = (now.timestamp() - _day_start_utc(start)) / 86400.0
    return max(1, math.ceil(n_runs / (days * expected_runs_per_order())))


# --------------------------------------------------------------------------------------------------
# Ticket API events (entry-marked status history)
# --------------------------------------------------------------------------------------------------


def ticket_events(truth: pd.DataFrame) -> pd.DataFrame:
    """The ticket system's status changes that yield exactly the truth's ticket_api runs.

    Each run opens with an event of its status (team/role/tier of the run); a ticket whose last run
    ended gets CLOSED at that end, one whose last run was cancelled gets CANCELLED. event_id ranks the
    events by (changed_at, order_no, place in the ticket); ticket_id ranks tickets by their first event.
    Column truth_row is the position in `truth` of the run an event opens (-1 for CLOSED / CANCELLED).
    Independent of the truth's row order.
    """
    api_rows = np.flatnonzero((truth["source_system"] == TICKET_API).to_numpy())
    api = truth.iloc[api_rows].reset_index(drop=True)
    # Sorted string codes: the tie-break between tickets then does not depend on `now` or row order.
    codes, _ = pd.factorize(api["work_order_id"], sort=True)
    start = _epoch_seconds(api["start_at"])
    end = _epoch_seconds(api["end_at"])
    cancel = _epoch_seconds(api["cancelled_at"])

    run_pos = _sort_order(codes, start)  # positions in `api`, ticket by ticket, in time order
    codes, start, end, cancel = codes[run_pos], start[run_pos], end[run_pos], cancel[run_pos]
    n = codes.size
    boundary = codes[1:] != codes[:-1]
    first_of_ticket = np.r_[True, boundary][:n]
    last_of_ticket = np.r_[boundary, True][:n]
    seq = np.arange(n) - np.maximum.accumulate(np.where(first_of_ticket, np.arange(n), 0))
    cancelled_last = last_of_ticket & (cancel != NAT)
    closed_last = last_of_ticket & (cancel == NAT) & (end != NAT)
    terminal = cancelled_last | closed_last

    status_names = [*dict.fromkeys(TICKET_STATUSES.values()), TICKET_CLOSED, TICKET_CANCELLED]
    run_status = np.array(
        [status_names.index(TICKET_STATUSES[key]) if key in TICKET_STATUSES else -1 for key in NODE_INDEX],
        dtype=np.int16,
    )[_node_ids(api)[run_pos]]
    if (run_status < 0).any():
        raise ValueError("a ticket_api run has a node the ticket system has no status for")
    terminal_status = np.where(
        cancelled_last[terminal], status_names.index(TICKET_CANCELLED), status_names.index(TICKET_CLOSED)
    )

    # Every run's opening event, then the terminal event of finished tickets.
    ev_pos = np.concatenate([run_pos, run_pos[terminal]])
    ev_time = np.concatenate([start, np.where(cancelled_last, cancel, end)[terminal]])
    ev_code = np.concatenate([codes, codes[terminal]])
    ev_seq = np.concatenate([seq, seq[terminal] + 1])
    ev_status = np.concatenate([run_status, terminal_status]).astype(np.int16)
    ev_truth_row = np.concatenate([api_rows[run_pos], np.full(int(terminal.sum()), -1, dtype=np.int64)])
    by_time = _sort_order(ev_time, ev_code, ev_seq)
    ev_pos, ev_time, ev_code, ev_status, ev_truth_row = (
        a[by_time] for a in (ev_pos, ev_time, ev_code, ev_status, ev_truth_row)
    )

    # A ticket is created with its first event; ticket ids count tickets in that order.
    n_tickets = int(codes.max()) + 1 if n else 0
    first_time = np.zeros(n_tickets, dtype=np.int64)
    first_time[codes[first_of_ticket]] = start[first_of_ticket]
    ticket_no = np.empty(n_tickets, dtype=np.int64)
    ticket_no[_sort_order(first_time, np.arange(n_tickets))] = np.arange(1, n_tickets + 1)
    ticket_text = pc.utf8_lpad(pc.cast(pa.array(ticket_no[ev_code]), pa.string()), width=6, padding="0")

    def take(column: str) -> pd.Series:
        return api[column].iloc[ev_pos].reset_index(drop=True)

    return pd.DataFrame(
        {
            "event_id": np.arange(1, ev_pos.size + 1, dtype=np.int64),
            "ticket_id": pc.binary_join_element_wise("T", ticket_text, "").to_pandas(),
            "order_no": take("work_order_id"),
            "biz_type": take("process_code"),
            "status": pd.Categorical.from_codes(ev_status, categories=status_names),
            "changed_at": _to_utc_series(ev_time),
            "team": take("department"),
            "role": take("position"),
            "customer_tier": pd.Series(pd.Categorical(take("segment"))).map(TICKET_TIERS),
            "truth_row": ev_truth_row,
        }
    )


def _node_ids(frame: pd.DataFrame) -> np.ndarray:
    """Index into NODES of each row's (process_code, node_code); works for text or categorical columns."""
    processes = [p.code for p in PROCESSES]
    node_codes = _unique([n.code for n in NODES])
    lookup = np.full((len(processes), len(node_codes)), -1, dtype=np.int16)
    for i, n in enumerate(NODES):
        lookup[processes.index(n.process), node_codes.index(n.code)] = i
    pi = pd.Categorical(frame["process_code"], categories=processes).codes
    ni = pd.Categorical(frame["node_code"], categories=node_codes).codes
    ids = lookup[pi, ni]
    if ((pi < 0) | (ni < 0) | (ids < 0)).any():
        raise ValueError("truth has a (process, node) the demo systems do not know")
    return ids


# --------------------------------------------------------------------------------------------------
# Writing the three systems
# --------------------------------------------------------------------------------------------------

OA_COLUMNS = (
    "task_id",
    "flow_no",
    "flow_type",
    "step_name",
    "dept_name",
    "post_name",
    "cust_level",
    "begin_time",
    "end_time",
    "cancel_time",
    "update_time",
)
OA_TIME_COLUMNS = ("begin_time", "end_time", "cancel_time", "update_time")


def oa_task_frame(truth: pd.DataFrame) -> pd.DataFrame:
    """The OA workflow's wf_task rows (one per OA run), times as naive Asia/Shanghai datetimes."""
    oa = truth[truth["source_system"] == OA].reset_index(drop=True)
    begin = _local_naive(oa["start_at"], OA_TZ)
    end = _local_naive(oa["end_at"], OA_TZ)
    cancel = _local_naive(oa["cancelled_at"], OA_TZ)
    frame = pd.DataFrame(
        {
            "task_id": _key_numbers(oa["source_key"]),
            "flow_no": _pandas_text(_arrow_text(oa["work_order_id"])),
            "flow_type": _pandas_text(_arrow_text(oa["process_code"], OA_FLOW_TYPES)),
            "step_name": _pandas_text(_arrow_text(oa["node_code"], OA_STEP_NAMES)),
            "dept_name": _pandas_text(_arrow_text(oa["department"])),
            "post_name": _pandas_text(_arrow_text(oa["position"])),
            "cust_level": _pandas_text(_arrow_text(oa["segment"], OA_CUST_LEVELS)),
            "begin_time": begin,
            "end_time": end,
            "cancel_time": cancel,
            # The row's last change: the extractor partitions by it, so a closed task shows up again.
            "update_time": pd.concat([begin, end, cancel], axis=1).max(axis=1),
        }
    )
    return frame.sort_values("task_id", kind="stable").reset_index(drop=True)


def _key_numbers(keys: pd.Series) -> np.ndarray:
    return pc.cast(pa.array(keys), pa.int64()).to_numpy()


def _oa_table(metadata: sa.MetaData, sqlite: bool) -> sa.Table:
    # SQLite has no datetime type: the OA system there stores text 'YYYY-MM-DD HH:MM:SS', which sorts
    # and compares like the times it spells. MariaDB/PostgreSQL get real (naive) datetime columns.
    time_type = sa.Text() if sqlite else sa.DateTime(timezone=False)
    text = sa.String(64)
    return sa.Table(
        "wf_task",
        metadata,
        sa.Column("task_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("flow_no", text, nullable=False),
        sa.Column("flow_type", text, nullable=False),
        sa.Column("step_name", text, nullable=False),
        sa.Column("dept_name", text),
        sa.Column("post_name", text),
        sa.Column("cust_level", text),
        sa.Column("begin_time", time_type, nullable=False),
        sa.Column("end_time", time_type),
        sa.Column("cancel_time", time_type),
        sa.Column("update_time", time_type, nullable=False),
        sa.Index("ix_wf_task_update_time", "update_time"),
        mysql_charset="utf8mb4",  # Chinese department names
    )


def write_oa_table(engine: sa.Engine, frame: pd.DataFrame, chunk_rows: int = 50_000) -> int:
    """(Re)create wf_task in `engine`'s database and bulk-load `frame` (from oa_task_frame) into it."""
    sqlite = engine.dialect.name == "sqlite"
    table = _oa_table(sa.MetaData(), sqlite)
    quote = engine.dialect.identifier_preparer.quote
    column_list = ", ".join(quote(c) for c in OA_COLUMNS)
    with engine.begin() as conn:
        table.drop(conn, checkfirst=True)
        table.create(conn)
        if engine.dialect.driver == "psycopg2":
            # COPY is PostgreSQL's bulk path; psycopg2's executemany is a round trip per row.
            text = frame.loc[:, list(OA_COLUMNS)].to_csv(index=False, header=False, date_format="%Y-%m-%d %H:%M:%S")
            with conn.connection.driver_connection.cursor() as cursor:
                copy = f"COPY {quote('wf_task')} ({column_list}) FROM STDIN WITH (FORMAT csv)"
                cursor.copy_expert(copy, io.StringIO(text))
        elif engine.dialect.name == "postgresql":
            # Other PostgreSQL drivers: SQLAlchemy's insertmanyvalues batches rows into multi-row INSERTs.
            rows = [dict(zip(OA_COLUMNS, row, strict=True)) for row in _python_rows(frame, sqlite)]
            for lo in range(0, len(rows), chunk_rows):
                conn.execute(table.insert(), rows[lo : lo + chunk_rows])
        else:
            # The driver's executemany is the bulk path (sqlite3 in C, PyMySQL as multi-row INSERTs);
            # going to the DBAPI directly skips SQLAlchemy's per-row parameter handling.
            marks = ", ".join(["?" if engine.dialect.paramstyle == "qmark" else "%s"] * len(OA_COLUMNS))
            insert = f"INSERT INTO {quote('wf_task')} ({column_list}) VALUES ({marks})"
            rows = _python_rows(frame, sqlite)
            for lo in range(0, len(rows), chunk_rows):
                conn.exec_driver_sql(insert, rows[lo : lo + chunk_rows])
    return len(frame)


def _python_rows(frame: pd.DataFrame, times_as_text: bool) -> list[tuple]:
    """wf_task rows as DBAPI parameter tuples, None for nulls."""
    columns: list[list] = []
    for name in OA_COLUMNS:
        values = frame[name]
        if name in OA_TIME_COLUMNS and times_as_text:
            columns.append(_naive_text(values).to_pylist())
        elif name in OA_TIME_COLUMNS:
            columns.append([None if pd.isna(v) else v for v in values.dt.to_pydatetime()])
        else:
            columns.append(pa.array(values).to_pylist())
    return list(zip(*columns, strict=True))


def settlement_frame(truth: pd.DataFrame) -> pd.DataFrame:
    """Rows of all settlement files: a run is in the file of each business day on which it started,
    ended or was voided, showing what was known at the end of that day. Column `day` is the business
    day (days since 1970-01-01); the other columns are the file's text columns in order."""
    st = truth[truth["source_system"] == SETTLEMENT].reset_index(drop=True)
    start_day = _local_day_numbers(st["start_at"], BUSINESS_TZ)
    end_day = _local_day_numbers(st["end_at"], BUSINESS_TZ)
    cancel_day = _local_day_numbers(st["cancelled_at"], BUSINESS_TZ)
    changed_day = np.where(end_day != NAT, end_day, cancel_day)  # a run ends or is voided, never both
    later = np.flatnonzero((changed_day != NAT) & (changed_day != start_day))

    pos = np.concatenate([np.arange(len(st)), later])
    day = np.concatenate([start_day, changed_day[later]])
    # On its start day a run that finishes later is still open there.
    finished_by_day = (changed_day[pos] != NAT) & (changed_day[pos] <= day)
    # A file lists its rows by start time; the truth position breaks ties reproducibly.
    order = _sort_order(day, _epoch_seconds(st["start_at"])[pos], pos)
    pos, day, finished_by_day = pos[order], day[order], finished_by_day[order]

    take = pa.array(pos)
    hidden = pa.array(~finished_by_day)
    nothing = pa.scalar(None, pa.large_string())

    def text(column: str, mapping: dict[str, str] | None = None) -> pd.Series:
        return _pandas_text(_arrow_text(st[column], mapping).take(take))

    def time_text(column: str, hide: bool = False) -> pd.Series:
        values = _time_text(st[column], SETTLEMENT_TZ, date_sep="/").take(take)
        return _pandas_text(pc.if_else(hidden, nothing, values) if hide else values)

    return pd.DataFrame(
        {
            "day": day,
            "记录编号": text("source_key"),
            "结算批次号": text("work_order_id"),
            "环节": text("node_code", SETTLEMENT_STEPS),
            "渠道类型": text("segment", SETTLEMENT_CHANNELS),
            "处理部门": text("department"),
            "处理岗位": text("position"),
            "开始时间": time_text("start_at"),
            "完成时间": time_text("end_at", hide=True),
            "作废时间": time_text("cancelled_at", hide=True),
        }
    )


def write_settlement_files(
    truth: pd.DataFrame, drop_dir: Path, first_day: dt.date, last_day: dt.date
) -> tuple[int, int]:
    """One GB18030 CSV per business day from first_day to last_day (header only when nothing changed,
    since the extractor treats a missing day as an error). Returns (rows, files)."""
    drop_dir.mkdir(parents=True, exist_ok=True)
    for old in drop_dir.glob("jiesuan_*.csv"):
        old.unlink()  # a previous run with a later `now` must not leave files from the future
    frame = settlement_frame(truth)
    epoch = dt.date(1970, 1, 1)
    days = frame["day"].to_numpy()
    body = frame.drop(columns="day")
    n_files = 0
    for offset in range((last_day - first_day).days + 1):
        day = first_day + dt.timedelta(days=offset)
        number = (day - epoch).days
        lo, hi = np.searchsorted(days, [number, number + 1])
        path = drop_dir / f"jiesuan_{day:%Y%m%d}.csv"
        body.iloc[lo:hi].to_csv(path, index=False, encoding="gb18030")
        n_files += 1
    outside = (days < (first_day - epoch).days) | (days > (last_day - epoch).days)
    if outside.any():
        raise ValueError("settlement rows fall outside the days written; pass the truth's own start")
    return len(frame), n_files


# An activity code the settlement source does not declare: rows carrying it are quarantined (unknown_node).
BAD_NODE_CODE = "质检"


def inject_bad_rows(drop_dir: Path, day: dt.date, share: float, seed: int = 7) -> int:
    """Corrupt `share` of one day's settlement drop (rounded up, at least one row) with an activity code
    the source does not know, to show the quality gates at work. Returns the number of rows corrupted."""
    path = Path(drop_dir) / f"jiesuan_{day:%Y%m%d}.csv"
    frame = pd.read_csv(path, encoding="gb18030", dtype=str, keep_default_na=False)
    if frame.empty:
        raise ValueError(f"{path} has no rows to corrupt")
    n = min(len(frame), max(1, math.ceil(share * len(frame))))
    rows = np.random.default_rng(seed).choice(len(frame), size=n, replace=False)
    frame.iloc[rows, frame.columns.get_loc(SETTLEMENT_HEADER[2])] = BAD_NODE_CODE
    frame.to_csv(path, index=False, encoding="gb18030")
    return n


def write_ticket_store(truth: pd.DataFrame, path: Path) -> int:
    """The ticket API's status changes as JSON lines, in event_id order (which is time order)."""
    events = ticket_events(truth)
    opening = events[events["truth_row"] >= 0]
    expected = _key_numbers(truth["source_key"].iloc[opening["truth_row"].to_numpy()])
    if not np.array_equal(opening["event_id"].to_numpy(), expected):
        raise ValueError("truth.source_key of ticket runs does not match the event ids (truth was altered)")
    special = {
        "event_id": pa.array(events["event_id"].to_numpy()),
        "changed_at": _time_text(events["changed_at"], "UTC", time_sep="T", suffix="Z"),
    }
    columns = {name: special[name] if name in special else _arrow_text(events[name]) for name in TICKET_FIELDS}
    for name in ("ticket_id", "order_no", "biz_type", "status", "team", "role", "customer_tier"):
        _check_json_safe(name, events[name], columns[name])
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a running ticket_api_server never sees a half-written store.
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        for lo in range(0, len(events), _JSON_CHUNK):
            chunk = {name: values.slice(lo, _JSON_CHUNK) for name, values in columns.items()}
            _write_json_lines(out, chunk)
    partial.replace(path)
    return len(events)


_JSON_CHUNK = 1_000_000  # rows per block: bounds the memory of the spliced text
_JSON_UNSAFE = r'["\\\x00-\x1f]'


def _check_json_safe(name: str, values: pd.Series, text: pa.Array) -> None:
    """_write_json_lines writes text verbatim between quotes: refuse nulls and anything JSON would escape."""
    if text.null_count:
        raise ValueError(f"ticket field {name} has nulls")
    if isinstance(values.dtype, pd.CategoricalDtype):  # checking the few categories is enough
        text = pa.array([str(c) for c in values.cat.categories], pa.large_string())
    if pc.any(pc.match_substring_regex(text, _JSON_UNSAFE)).as_py():
        raise ValueError(f"ticket field {name} has text that would need JSON escaping")


def _write_json_lines(out: BinaryIO, columns: dict[str, pa.Array]) -> None:
    """JSON lines spliced from column text in C++ (pandas' to_json goes through Python objects and is
    several times slower). Only valid for integers and text that needs no escaping (_check_json_safe)."""
    pieces: list = []
    for i, (name, values) in enumerate(columns.items()):
        key = ("{" if i == 0 else ",") + f'"{name}":'
        if pa.types.is_integer(values.type):
            pieces += [_text(key), pc.cast(values, pa.large_string())]
        else:
            pieces += [_text(key + '"'), pc.cast(values, pa.large_string()), _text('"')]
    lines = pc.binary_join_element_wise(*pieces, _text("}\n"), _text(""))
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    # The values buffer of a string array is all its strings back to back: exactly the file's bytes.
    if len(lines):
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
        out.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])


def write_sources(
    truth: pd.DataFrame, data_dir: Path, now: dt.datetime, start: dt.date | None = None
) -> dict[str, int]:
    """Write the three demo systems under `data_dir` from the truth; returns rows per system.

    * data_dir/sources/oa_workflow.sqlite  table wf_task
    * data_dir/drops/settlement/jiesuan_YYYYMMDD.csv  one per business day from `start` to now's day
    * data_dir/sources/ticket_events.jsonl  the ticket API store (serve it with ticket_api_server)
    `start` defaults to the business day of the earliest run.
    """
    _require_utc_aware(now)
    data_dir = Path(data_dir)
    sources = data_dir / "sources"
    sources.mkdir(parents=True, exist_ok=True)

    oa_path = sources / "oa_workflow.sqlite"
    oa_path.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{oa_path}")
    try:
        oa_rows = write_oa_table(engine, oa_task_frame(truth))
    finally:
        engine.dispose()

    if start is None:
        start = _business_day(truth["start_at"].min()) if len(truth) else _business_day(now)
    settlement_rows, _ = write_settlement_files(truth, data_dir / "drops" / "settlement", start, _business_day(now))
    ticket_rows = write_ticket_store(truth, sources / "ticket_events.jsonl")
    return {OA: oa_rows, SETTLEMENT: settlement_rows, TICKET_API: ticket_rows}


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def _parse_now(text: str | None) -> dt.datetime:
    if text is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    moment = dt.datetime.fromisoformat(text)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--start", type=dt.date.fromisoformat, required=True, help="first business day")
    parser.add_argument("--now", help="ISO instant the systems are seen at (naive = UTC; default: now)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--orders-per-day", type=int, default=None, help="default 300")
    size.add_argument("--target-runs", type=int, default=None, help="ask for about this many node runs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--bad-rows-share", type=float, default=0.0, help="corrupt this share of one day's settlement drop (e.g. 0.05)"
    )
    parser.add_argument(
        "--bad-rows-day", type=dt.date.fromisoformat, default=None, help="the day to corrupt (default: the last day)"
    )
    args = parser.parse_args(argv)

    now = _parse_now(args.now)
    if args.target_runs is not None:
        orders_per_day = orders_for_runs(args.target_runs, args.start, now)
    else:
        orders_per_day = args.orders_per_day or 300
    began = time.perf_counter()
    truth = generate_truth(args.start, now, orders_per_day, seed=args.seed)
    generated = time.perf_counter()
    counts = write_sources(truth, args.data_dir, now, start=args.start)
    written = time.perf_counter()
    if args.bad_rows_share > 0:
        day = args.bad_rows_day or _business_day(now) - dt.timedelta(days=1)
        n = inject_bad_rows(args.data_dir / "drops" / "settlement", day, args.bad_rows_share, seed=args.seed)
        print(f"injected {n} bad rows ({args.bad_rows_share:.0%}) into the settlement drop of {day}")

    print(f"now={now.isoformat()} orders_per_day={orders_per_day} seed={args.seed}")
    print(f"node runs: {len(truth):,} ({truth['work_order_id'].nunique():,} work orders)")
    for system, n in truth["source_system"].value_counts(sort=False).items():
        print(f"  truth runs from {system}: {n:,}")
    for system, n in counts.items():
        print(f"  {system}: {n:,} rows written")
    print(f"generate {generated - began:.2f}s, write {written - generated:.2f}s, total {written - began:.2f}s")


if __name__ == "__main__":
    main()
