"""Turn a source's raw rows into canonical landing rows, vectorised; bad rows become quarantine rows.

Everything a source declares (column mapping, time zone, timestamp format, code mappings, status
roles) is applied here, so the warehouse only ever sees canonical codes and UTC instants. Every row
received ends up either accepted or quarantined with a reason: received = accepted + quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from orchestration.catalog import Catalogue, parse_duration
from orchestration.settings import pipeline_settings
from orchestration.sources.config import SourceConfig
from orchestration.sources.errors import MISSING_COLUMNS, SourceRejected
from orchestration.sources.file import UNDECODABLE
from orchestration.sources.window import Window

INTERVAL_COLUMNS = [
    "source_system", "partition_date", "extracted_at", "source_row_key", "work_order_id", "process_code",
    "node_code", "segment", "department", "position", "start_at", "end_at", "cancelled_at",
]  # fmt: skip
EVENT_COLUMNS = [
    "source_system", "partition_date", "extracted_at", "source_row_key", "event_seq", "work_order_id",
    "process_code", "node_code", "status_code", "event_role", "timestamp_marks", "event_at", "segment",
    "department", "position",
]  # fmt: skip
QUARANTINE_COLUMNS = [
    "source_system", "partition_date", "extracted_at", "reason_code", "reason_detail", "raw_record",
]  # fmt: skip

# Reason codes, in the order they are tested: a row gets the first that applies.
UNDECODABLE_BYTES = "undecodable_bytes"
DUPLICATE_ROW = "duplicate_row"
MISSING_WORK_ORDER_KEY = "missing_work_order_key"
UNPARSEABLE_TIMESTAMP = "unparseable_timestamp"
LOCAL_TIME_NOT_UNIQUE = "local_time_not_unique"
UNKNOWN_PROCESS = "unknown_process"
UNKNOWN_NODE = "unknown_node"
UNKNOWN_STATUS = "unknown_status"
UNKNOWN_SEGMENT = "unknown_segment"
END_BEFORE_START = "end_before_start"
START_IN_FUTURE = "start_in_future"
OVERLAPPING_RUN = "overlapping_run"
REASON_CODES = (
    UNDECODABLE_BYTES, UNPARSEABLE_TIMESTAMP, LOCAL_TIME_NOT_UNIQUE, DUPLICATE_ROW, MISSING_WORK_ORDER_KEY,
    UNKNOWN_PROCESS, UNKNOWN_NODE, UNKNOWN_STATUS, UNKNOWN_SEGMENT, END_BEFORE_START, START_IN_FUTURE,
    OVERLAPPING_RUN,
)  # fmt: skip
# Far future standing in for "still open" when comparing intervals.
_OPEN_END = pd.Timestamp("2200-01-01")


@dataclass
class Extract:
    source_system: str
    shape: str
    rows: pd.DataFrame
    quarantine: pd.DataFrame
    received: int

    @property
    def accepted(self) -> int:
        return len(self.rows)


def _text(series: pd.Series) -> pd.Series:
    """Source values as stripped strings, with blanks as missing."""
    out = series.astype("string").str.strip()
    return out.mask(out == "")


def _instants(series: pd.Series, cfg: SourceConfig) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse to naive UTC. Returns (instant, unparseable mask, not-unique-local-time mask)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed, blank = series, series.isna()
    else:
        text = _text(series)
        blank = text.isna()
        fmt = cfg.timestamp_format or "ISO8601"
        parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=False)
        if parsed.dt.tz is None and not cfg.timestamp_format:
            # ISO strings may carry offsets on some rows only; parse those rows as UTC-aware.
            aware = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", na=False)
            if aware.any():
                parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    unparseable = parsed.isna() & ~blank
    if parsed.dt.tz is None:
        local = parsed.dt.tz_localize(cfg.zone, ambiguous="NaT", nonexistent="NaT")
        not_unique = local.isna() & parsed.notna()
        parsed = local
    else:
        not_unique = pd.Series(False, index=series.index)
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]"), unparseable, not_unique


def _column(raw: pd.DataFrame, cfg: SourceConfig, field: str) -> pd.Series:
    name = cfg.columns.get(field)
    if name is None:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    return raw[name]


def _map_codes(keys: pd.DataFrame, mapping: pd.DataFrame, on: list[str], target: str) -> pd.Series:
    """Vectorised lookup of (process, code) -> canonical code; missing -> NA."""
    merged = keys.merge(mapping, how="left", on=on)
    return pd.Series(merged[target].to_numpy(), index=keys.index, dtype="string")


def _clock_skew(cfg: SourceConfig) -> str:
    return cfg.clock_skew or pipeline_settings().clock_skew


def _raw_records(bad: pd.DataFrame) -> list[str]:
    """Each quarantined row as received: its columns as JSON, or the undecodable line itself."""
    if bad.empty:
        return []
    line = bad[UNDECODABLE] if UNDECODABLE in bad else pd.Series(pd.NA, index=bad.index, dtype="string")
    columns = bad.drop(columns=["_partition_date", UNDECODABLE], errors="ignore").astype("string")
    as_json = pd.Series(columns.to_json(orient="records", lines=True, force_ascii=False).splitlines(), index=bad.index)
    return as_json.where(line.isna(), line).tolist()


def _overlapping(
    ok: pd.Series,
    row_key: pd.Series,
    work_order: pd.Series,
    process: pd.Series,
    node: pd.Series,
    times: dict[str, pd.Series],
    partition_date: pd.Series,
) -> pd.Series:
    """Rows whose run overlaps an earlier-starting run of the same work order and node in this batch
    (two passes through one node cannot run at once; touching runs are fine). Versions of one source
    row (same key, several days) are one run: its newest version stands for it."""
    runs = pd.DataFrame(
        {
            "key": row_key.to_numpy(),
            "work_order": work_order.to_numpy(),
            "process": process.to_numpy(),
            "node": node.to_numpy(),
            "start": times["start_at"].to_numpy(),
            "stop": times["end_at"].fillna(times["cancelled_at"]).fillna(_OPEN_END).to_numpy(),
            "day": partition_date.to_numpy(),
            "pos": np.arange(len(row_key)),
        }
    )[ok.to_numpy()]
    runs = runs.sort_values(["day", "pos"]).drop_duplicates("key", keep="last")
    runs = runs.sort_values(["work_order", "process", "node", "start", "key"])
    group = ["work_order", "process", "node"]
    previous_stop = runs.groupby(group, sort=False).stop.shift()
    latest_stop = previous_stop.groupby([runs[g] for g in group], sort=False).cummax()
    bad_keys = runs.key[runs.start < latest_stop]
    return pd.Series(row_key.isin(bad_keys).to_numpy() & ok.to_numpy(), index=row_key.index)


def normalise(cfg: SourceConfig, raw: pd.DataFrame, window: Window, catalogue: Catalogue) -> Extract:
    extracted_at = datetime.now(UTC).replace(tzinfo=None)
    raw = raw.reset_index(drop=True)
    reasons = pd.Series(pd.NA, index=raw.index, dtype="string")
    details = pd.Series(pd.NA, index=raw.index, dtype="string")

    def flag(mask: pd.Series, code: str, detail: pd.Series | str) -> None:
        hit = mask.fillna(False) & reasons.isna()
        reasons[hit] = code
        details[hit] = detail[hit] if isinstance(detail, pd.Series) else detail

    missing = sorted(set(cfg.columns.values()) - set(raw.columns))
    if missing and len(raw):
        raise SourceRejected(
            f"source {cfg.name}: rows lack declared columns {missing}; the whole batch is rejected "
            f"(found {[c for c in raw.columns if not c.startswith('_')]})",
            MISSING_COLUMNS,
        )
    undecodable = raw[UNDECODABLE].notna() if UNDECODABLE in raw else pd.Series(False, index=raw.index)
    flag(undecodable, UNDECODABLE_BYTES, f"line is not valid {cfg.encoding}")

    # Partition: the file's day for daily drops, otherwise the business day of the change instant.
    time_fields = ("start_at", "end_at", "cancelled_at") if cfg.shape == "intervals" else ("event_at",)
    times = {}
    for field in time_fields:
        if field not in cfg.columns:
            times[field] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
            continue
        instant, bad, not_unique = _instants(raw[cfg.columns[field]], cfg)
        times[field] = instant
        flag(
            bad,
            UNPARSEABLE_TIMESTAMP,
            f"{field} is not a timestamp of format {cfg.timestamp_format or 'ISO-8601'}",
        )
        flag(not_unique, LOCAL_TIME_NOT_UNIQUE, f"{field} does not exist or is ambiguous in {cfg.time_zone}")
    business_tz = pipeline_settings().business_time_zone
    first_day = pd.Timestamp(window.start.astimezone(business_tz).date())
    end_day = pd.Timestamp(window.end.astimezone(business_tz).date())
    if "_partition_date" in raw:
        partition_date = pd.to_datetime(raw["_partition_date"]).astype("datetime64[us]")
    else:
        changed_field = cfg.columns.get("changed_at")
        if changed_field is not None and changed_field not in (cfg.columns.get(f) for f in time_fields):
            changed, bad, _ = _instants(raw[changed_field], cfg)
            flag(bad, UNPARSEABLE_TIMESTAMP, "changed_at is not a timestamp")
        else:
            changed = times["event_at" if cfg.shape == "status_history" else "start_at"]
        local_day = changed.dt.tz_localize("UTC").dt.tz_convert(business_tz).dt.tz_localize(None).dt.normalize()
        if changed_field is not None:
            # A source queried for the window returns rows active in it that changed after it (a task open
            # at midnight and closed before the 00:30 run): they are what the window saw, and land in its
            # last day; the later partition of their change lands the same row again (the newest wins).
            local_day = local_day.clip(upper=end_day - pd.Timedelta(days=1))
        # A row whose change instant is unreadable cannot be placed: it is quarantined in the window's first day.
        partition_date = local_day.fillna(first_day).astype("datetime64[us]")
    # A single history file holds every partition: keep only the window's rows (the others belong to
    # other partitions and are loaded with them).
    keep = ((partition_date >= first_day) & (partition_date < end_day)).to_numpy()
    raw, partition_date, reasons, details = raw[keep], partition_date[keep], reasons[keep], details[keep]
    times = {k: v[keep] for k, v in times.items()}
    undecodable = undecodable[keep]
    received = len(raw)

    # The same row twice in one partition's delivery: the first copy stands, the others are duplicates.
    declared = list(dict.fromkeys(cfg.columns.values()))
    copy = raw[declared].assign(_day=partition_date.to_numpy()).duplicated(keep="first") & ~undecodable
    flag(copy, DUPLICATE_ROW, "exact duplicate of an earlier row of the same partition")

    work_order = _text(_column(raw, cfg, "work_order_id"))
    flag(work_order.isna(), MISSING_WORK_ORDER_KEY, "work-order key is empty")

    if cfg.process:
        process = pd.Series(cfg.process, index=raw.index, dtype="string")
    else:
        source_process = _text(raw[cfg.columns["process"]])
        process = source_process.map(cfg.processes).astype("string") if cfg.processes else source_process
    known_processes = set(catalogue.processes.process_code)
    flag(~process.isin(known_processes), UNKNOWN_PROCESS, "process code is not in the catalogue")

    node_map = pd.DataFrame(
        [(p, src, node) for p, codes in cfg.nodes.items() for src, node in codes.items()],
        columns=["process_code", "code", "node_code"],
    ).astype("string")
    code_field = "node" if cfg.shape == "intervals" else "status"
    code = _text(raw[cfg.columns[code_field]])
    node = _map_codes(
        pd.DataFrame({"process_code": process, "code": code}), node_map, ["process_code", "code"], "node_code"
    )
    known_nodes = pd.MultiIndex.from_frame(catalogue.nodes[["process_code", "node_code"]])
    node_known = pd.Series(
        pd.MultiIndex.from_arrays([process.fillna(""), node.fillna("")]).isin(known_nodes), index=raw.index
    )

    if cfg.shape == "intervals":
        flag(~node_known, UNKNOWN_NODE, "node code has no mapping onto the catalogue")
    else:
        role = pd.Series(
            np.select(
                [
                    code.isin(cfg.terminal_statuses).to_numpy(),
                    code.isin(cfg.cancelling_statuses).to_numpy(),
                    code.isin(cfg.pausing_statuses).to_numpy(),
                ],
                ["terminal", "cancelling", "pausing"],
                "activity",
            ),
            index=raw.index,
            dtype="string",
        )
        # Pausing statuses open no run; entry-marked terminal and cancelling ones neither: none needs a node.
        needs_node = (role == "activity") | ((cfg.timestamp_marks == "completion") & (role != "pausing"))
        flag(needs_node & node.isna(), UNKNOWN_STATUS, "status is not in the source's declared statuses")
        flag(
            needs_node & node.notna() & ~node_known,
            UNKNOWN_NODE,
            "status maps to a node not in the catalogue",
        )
        node = node.where(role == "activity") if cfg.timestamp_marks == "entry" else node.where(role != "pausing")

    segment = _text(_column(raw, cfg, "segment"))
    if cfg.segments is not None:
        mapped = segment.map(cfg.segments).astype("string")
        flag(
            segment.notna() & mapped.isna(),
            UNKNOWN_SEGMENT,
            "segment is not in the source's declared segments",
        )
        segment = mapped

    if cfg.shape == "intervals":
        start, end, cancelled = times["start_at"], times["end_at"], times["cancelled_at"]
        flag(start.isna(), UNPARSEABLE_TIMESTAMP, "start_at is missing")
        flag(end < start, END_BEFORE_START, "end_at is before start_at")
        flag(cancelled < start, END_BEFORE_START, "cancelled_at is before start_at")
    latest_possible = pd.Timestamp(extracted_at) + pd.Timedelta(seconds=parse_duration(_clock_skew(cfg)))
    begins = times["start_at" if cfg.shape == "intervals" else "event_at"]
    flag(
        begins > latest_possible,
        START_IN_FUTURE,
        f"{'start_at' if cfg.shape == 'intervals' else 'event_at'} is later than extraction time "
        f"plus the clock-skew allowance of {_clock_skew(cfg)}",
    )

    if "source_row_key" in cfg.columns:
        row_key = _text(raw[cfg.columns["source_row_key"]])
    else:
        # No id in the source: the row's content is its identity (an exact duplicate is the same row).
        declared = raw[list(dict.fromkeys(cfg.columns.values()))]
        row_key = pd.Series(
            pd.util.hash_pandas_object(declared, index=False).astype("uint64").astype(str), index=raw.index
        )

    if cfg.shape == "intervals":
        overlapping = _overlapping(reasons.isna(), row_key, work_order, process, node, times, partition_date)
        flag(overlapping, OVERLAPPING_RUN, "overlaps another run of the same work order and node")

    good = reasons.isna().to_numpy()
    base = pd.DataFrame(
        {
            "source_system": cfg.name,
            "partition_date": partition_date,
            "extracted_at": extracted_at,
            "source_row_key": row_key,
            "work_order_id": work_order,
            "process_code": process,
            "node_code": node,
            "segment": segment,
            "department": _text(_column(raw, cfg, "department")),
            "position": _text(_column(raw, cfg, "position")),
        }
    )
    if cfg.shape == "intervals":
        rows = base.assign(start_at=times["start_at"], end_at=times["end_at"], cancelled_at=times["cancelled_at"])
        rows = rows[good][INTERVAL_COLUMNS]
    else:
        rows = base.assign(
            # Order of arrival breaks ties between events of one work order at the same instant.
            event_seq=np.arange(len(raw), dtype="int64"),
            status_code=code,
            event_role=role,
            timestamp_marks=cfg.timestamp_marks,
            event_at=times["event_at"],
        )[good][EVENT_COLUMNS]

    bad = ~good
    quarantine = pd.DataFrame(
        {
            "source_system": cfg.name,
            "partition_date": partition_date[bad],
            "extracted_at": extracted_at,
            "reason_code": reasons[bad],
            "reason_detail": details[bad],
            "raw_record": _raw_records(raw[bad]),
        }
    )[QUARANTINE_COLUMNS]
    extract = Extract(cfg.name, cfg.shape, rows.reset_index(drop=True), quarantine.reset_index(drop=True), received)
    assert extract.received == extract.accepted + len(extract.quarantine), "rows lost in normalisation"
    return extract
