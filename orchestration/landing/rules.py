"""The row rules of the landing, in the order they are tested: a bad row gets the reason code of the
first rule that rejects it and goes to quarantine with the row as received; the rest of the batch lands.

`RULES` is that order. Each rule is a step over the whole batch (vectorised, never per row): it derives
the canonical columns it is about (instants, partition, codes, keys) and flags the rows it rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd

from orchestration.periods import Window
from orchestration.reference.calendars import parse_duration
from orchestration.reference.catalogue import Catalogue
from orchestration.sources.config import SourceConfig
from orchestration.sources.file import FIELDS_EXPECTED, FIELDS_FOUND, LINE, READER_COLUMNS, UNDECODABLE

# Far future standing in for "still open" when comparing intervals.
_OPEN_END = pd.Timestamp("2200-01-01")


class SeenRows:
    """The rows of a window seen so far, as two independent 64-bit hashes of their values and partition
    (a false match needs both to collide: about 1 in 10^20 for ten million rows), kept as runs of numbers
    sorted by the first hash rather than the rows: what `duplicate_row` needs to find a copy in an earlier
    batch. The runs are merged as a binary counter adds: a run is merged into the one before it while that
    one is no longer, so a window of k batches keeps about log2(k) runs and each hash is merged about log2(k)
    times, each merge a linear pass (a stable sort of two sorted runs; at 43 batches of 200k rows 16.3 s
    when every eighth batch re-sorted all the rows seen)."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (first, second hash), sorted by the first

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Mark the rows (n, 2) seen before: earlier in `keys` or in an earlier call. Returns that mask."""
        copy = pd.DataFrame(keys).duplicated(keep="first").to_numpy().copy()
        first, second = np.ascontiguousarray(keys[:, 0]), np.ascontiguousarray(keys[:, 1])
        # Looked up in order: numpy's binary search starts each sorted key where the last one ended, which
        # keeps the runs' pages in cache (8x faster than random keys at 3M rows seen).
        order = np.argsort(first, kind="stable")
        for run in self._runs:
            copy[order] |= _member(first[order], second[order], run)
        if (~copy).any():
            self._runs.append(_sorted_run(first[~copy], second[~copy]))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= len(self._runs[-1][0]):
            later, earlier = self._runs.pop(), self._runs.pop()
            self._runs.append(_sorted_run(*(np.concatenate(pair) for pair in zip(earlier, later, strict=True))))
        return copy


def _sorted_run(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(first, kind="stable")  # timsort: two sorted runs put together merge in one pass
    return first[order], second[order]


def _member(first: np.ndarray, second: np.ndarray, run: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Which rows (their two hashes) are in `run`."""
    run_first, run_second = run
    left = np.searchsorted(run_first, first, side="left")
    right = np.searchsorted(run_first, first, side="right")
    found = np.zeros(len(first), dtype=bool)
    single = np.flatnonzero(right - left == 1)  # almost always: one row of that first hash
    found[single] = run_second[left[single]] == second[single]
    for i in np.flatnonzero(right - left > 1):  # a first-hash collision: a few rows at most
        found[i] = bool((run_second[left[i] : right[i]] == second[i]).any())
    return found


def row_hashes(values: pd.DataFrame, partition_date: pd.Series) -> np.ndarray:
    """Two 64-bit hashes of each row's values and its partition (`hash_pair`), each value as text, so that it
    reads the same whichever batch holds it."""
    return np.column_stack(hash_pair([partition_date, *(values[c] for c in values)]))


def hash_pair(columns: list[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
    """Two 64-bit hashes of the rows of `columns` (aligned Series), as text, by DuckDB's `hash` over the
    columns (in C++, on both cores: a fifth of the time of pandas' SipHash); the second puts a byte before
    each value, so that two texts whose hashes collide collide in the first hash only."""
    texts = pd.DataFrame({f"c{i}": column.astype(_ARROW_TEXT) for i, column in enumerate(columns)})
    names = list(texts.columns)
    first, second = ", ".join(names), ", ".join(f"'\x01' || {name}" for name in names)
    with duckdb.connect() as con:
        con.register("batch", texts)
        hashes = con.sql(f"select hash({first}) as a, hash({second}) as b from batch").fetchnumpy()
    return hashes["a"], hashes["b"]


_ARROW_TEXT = pd.StringDtype("pyarrow")


@dataclass
class WindowState:
    """What the rules of one window carry from batch to batch: one extraction time for all its rows, how
    many rows came before (the order of delivery goes on), the rows seen (duplicates across batches) and
    the columns seen (a declared column is missing only if no batch had it)."""

    extracted_at: datetime
    # More batches follow this one (or came before): duplicates are then found by the rows' hashes. A
    # window in one batch (a daily run) compares the rows themselves and hashes nothing.
    batched: bool = False
    rows_before: int = 0
    raw_rows: int = 0
    seen: SeenRows = field(default_factory=SeenRows)
    columns_seen: dict[str, None] = field(default_factory=dict)
    # An interval source read in batches: each batch's runs, kept small (`runs_of`), for `overlapping_keys`
    # to judge after the last batch; None when the window's runs are judged where they are (one batch).
    runs: list[pd.DataFrame] | None = None


@dataclass
class Batch:
    """One source's rows for one window while they are normalised: the raw rows, the reason (and detail)
    of each rejected row, and the canonical columns the rules have derived so far."""

    cfg: SourceConfig
    raw: pd.DataFrame
    window: Window
    catalogue: Catalogue
    extracted_at: datetime
    reasons: pd.Series = field(init=False)
    details: pd.Series = field(init=False)
    columns: dict[str, pd.Series] = field(default_factory=dict)
    received: int = 0
    state: WindowState | None = None

    def __post_init__(self) -> None:
        self.raw = self.raw.reset_index(drop=True)
        self.reasons = pd.Series(pd.NA, index=self.raw.index, dtype="string")
        self.details = pd.Series(pd.NA, index=self.raw.index, dtype="string")

    @property
    def time_fields(self) -> tuple[str, ...]:
        return ("start_at", "end_at", "cancelled_at") if self.cfg.shape == "intervals" else ("event_at",)

    @property
    def ok(self) -> pd.Series:
        return self.reasons.isna()

    def flag(self, mask: pd.Series, code: str, detail: pd.Series | str) -> None:
        """Reject the rows of `mask` not rejected yet, with `code`."""
        hit = mask.fillna(False) & self.reasons.isna()
        self.reasons[hit] = code
        self.details[hit] = detail[hit] if isinstance(detail, pd.Series) else detail

    def keep(self, mask: np.ndarray) -> None:
        """Narrow the batch to the rows of `mask` (rows of other partitions of a history file)."""
        self.raw, self.reasons, self.details = self.raw[mask], self.reasons[mask], self.details[mask]
        self.columns = {k: v[mask] for k, v in self.columns.items()}


@dataclass(frozen=True)
class Rule:
    name: str
    reason_codes: tuple[str, ...]  # what it flags (none: it only derives columns or narrows the batch)
    apply: Callable[[Batch], None]


RULES: list[Rule] = []


def rule(*reason_codes: str) -> Callable[[Callable[[Batch], None]], Callable[[Batch], None]]:
    def register(step: Callable[[Batch], None]) -> Callable[[Batch], None]:
        RULES.append(Rule(step.__name__, reason_codes, step))
        return step

    return register


@rule("undecodable_bytes")
def decodable(b: Batch) -> None:
    undecodable = b.raw[UNDECODABLE].notna() if UNDECODABLE in b.raw else pd.Series(False, index=b.raw.index)
    b.columns["undecodable"] = undecodable
    b.flag(undecodable, "undecodable_bytes", f"line is not valid {b.cfg.encoding}")


@rule("missing_fields", "extra_fields")
def complete_lines(b: Batch) -> None:
    """A file line with fewer fields than its header (cut short: its trailing columns, often the end or
    cancellation, would read as blank) or with more (the fields fit no column): quarantined as received."""
    if FIELDS_FOUND not in b.raw:
        return
    found, expected = b.raw[FIELDS_FOUND], b.raw[FIELDS_EXPECTED]
    detail = (
        "line has " + found.astype("Int64").astype("string") + " fields, its header "
        + expected.astype("Int64").astype("string")
    )  # fmt: skip
    b.flag(found < expected, "missing_fields", detail + ": its last columns are missing")
    b.flag(found > expected, "extra_fields", detail + ": the extra fields fit no column")


@rule("unparseable_timestamp", "local_time_not_unique")
def parsed_instants(b: Batch) -> None:
    cfg = b.cfg
    for name in b.time_fields:
        if name not in cfg.columns:
            b.columns[name] = pd.Series(pd.NaT, index=b.raw.index, dtype="datetime64[us]")
            continue
        instant, bad, not_unique = _instants(b.raw[cfg.columns[name]], cfg)
        b.columns[name] = instant
        b.flag(bad, "unparseable_timestamp", f"{name} is not a timestamp of format {timestamp_shape(cfg)}")
        b.flag(not_unique, "local_time_not_unique", f"{name} does not exist or is ambiguous in {cfg.time_zone}")
    if cfg.shape == "status_history":  # an event without its instant has no place in the history
        b.flag(b.columns["event_at"].isna(), "unparseable_timestamp", "event_at is missing")


@rule("unparseable_timestamp")
def placed_in_partitions(b: Batch) -> None:
    """The partition: the file's day for daily drops, otherwise the business day of the change instant.
    Rows of other partitions (a single history file holds them all) are left for their own runs."""
    cfg, first_day, end_day = b.cfg, pd.Timestamp(b.window.first_day), pd.Timestamp(b.window.end_day)
    if "_partition_date" in b.raw:
        partition_date = pd.to_datetime(b.raw["_partition_date"]).astype("datetime64[us]")
    else:
        changed_field = cfg.columns.get("changed_at")
        if changed_field is not None and changed_field not in (cfg.columns.get(f) for f in b.time_fields):
            changed, bad, _ = _instants(b.raw[changed_field], cfg)
            b.flag(bad, "unparseable_timestamp", "changed_at is not a timestamp")
        else:
            changed = b.columns["event_at" if cfg.shape == "status_history" else "start_at"]
        local_day = changed.dt.tz_localize("UTC").dt.tz_convert(b.window.tz).dt.tz_localize(None).dt.normalize()
        if changed_field is not None:
            # A source queried for the window returns rows active in it that changed after it (a task open
            # at midnight and closed before the 00:30 run): they are what the window saw, and land in its
            # last day; the later partition of their change lands the same row again (the newest wins).
            local_day = local_day.clip(upper=end_day - pd.Timedelta(days=1))
        # A row whose change instant is unreadable cannot be placed: it is quarantined in the window's first day.
        partition_date = local_day.fillna(first_day).astype("datetime64[us]")
    b.columns["partition_date"] = partition_date
    b.keep(((partition_date >= first_day) & (partition_date < end_day)).to_numpy())
    b.received = len(b.raw)


@rule("duplicate_row")
def unique_rows(b: Batch) -> None:
    """The same row twice in one partition's delivery: the first copy stands, the others are duplicates,
    whichever batches of the window they arrive in."""
    values, day = b.raw[b.cfg.source_columns], b.columns["partition_date"]
    if b.state is not None and b.state.batched:
        copy = pd.Series(b.state.seen.add(row_hashes(values, day)), index=b.raw.index)
    else:
        copy = values.assign(_day=day.to_numpy()).duplicated(keep="first")
    b.flag(copy & ~b.columns["undecodable"], "duplicate_row", "exact duplicate of an earlier row of the same partition")


@rule("missing_work_order_key")
def keyed_by_work_order(b: Batch) -> None:
    b.columns["work_order_id"] = work_order = text_values(declared_column(b.raw, b.cfg, "work_order_id"))
    b.flag(work_order.isna(), "missing_work_order_key", "work-order key is empty")


@rule("missing_row_key")
def keyed_rows(b: Batch) -> None:
    """The row's identity: its declared key column(s), else (a source without ids) its content. A declared
    key left empty would make the row one with every other keyless row of its work order in staging."""
    cfg = b.cfg
    key_columns = [cfg.columns["source_row_key"]] if "source_row_key" in cfg.columns else cfg.row_key_columns
    if key_columns:
        row_key = composite_key([text_values(b.raw[column]) for column in key_columns])
        b.flag(row_key.isna(), "missing_row_key", f"row key ({', '.join(key_columns)}) is empty")
    else:
        row_key = pd.Series(
            pd.util.hash_pandas_object(b.raw[cfg.source_columns], index=False).astype("uint64").astype(str),
            index=b.raw.index,
        )
    b.columns["source_row_key"] = row_key


@rule("unknown_process")
def known_process(b: Batch) -> None:
    cfg = b.cfg
    if cfg.process:
        process = pd.Series(cfg.process, index=b.raw.index, dtype="string")
    else:
        source_process = text_values(b.raw[cfg.columns["process"]])
        process = source_process.map(cfg.processes).astype("string") if cfg.processes else source_process
    b.columns["process_code"] = process
    known = process.isin(set(b.catalogue.processes.process_code))
    b.flag(~known, "unknown_process", "process code is not in the catalogue")


@rule("unknown_status", "unknown_node")
def known_node(b: Batch) -> None:
    """Node codes (intervals) or statuses (status histories) mapped onto the catalogue's nodes; a status's
    role: terminal, cancelling, pausing or an activity of a node."""
    cfg, process = b.cfg, b.columns["process_code"]
    node_map = pd.DataFrame(
        [(p, src, node) for p, codes in cfg.nodes.items() for src, node in codes.items()],
        columns=["process_code", "code", "node_code"],
    ).astype("string")
    code = text_values(b.raw[cfg.columns["node" if cfg.shape == "intervals" else "status"]])
    node = _map_codes(
        pd.DataFrame({"process_code": process, "code": code}), node_map, ["process_code", "code"], "node_code"
    )
    known_nodes = pd.MultiIndex.from_frame(b.catalogue.nodes[["process_code", "node_code"]])
    node_known = pd.Series(
        pd.MultiIndex.from_arrays([process.fillna(""), node.fillna("")]).isin(known_nodes), index=b.raw.index
    )
    b.columns["status_code"] = code
    if cfg.shape == "intervals":
        b.columns["node_code"] = node
        b.flag(~node_known, "unknown_node", "node code has no mapping onto the catalogue")
        return
    role = pd.Series(
        np.select(
            [code.isin(statuses).to_numpy() for statuses in
             (cfg.terminal_statuses, cfg.cancelling_statuses, cfg.pausing_statuses)],
            ["terminal", "cancelling", "pausing"],
            "activity",
        ),
        index=b.raw.index,
        dtype="string",
    )  # fmt: skip
    # Pausing statuses open no run; entry-marked terminal and cancelling ones neither: none needs a node.
    needs_node = (role == "activity") | ((cfg.timestamp_marks == "completion") & (role != "pausing"))
    b.flag(needs_node & node.isna(), "unknown_status", "status is not in the source's declared statuses")
    b.flag(needs_node & node.notna() & ~node_known, "unknown_node", "status maps to a node not in the catalogue")
    b.columns["event_role"] = role
    b.columns["node_code"] = (
        node.where(role == "activity") if cfg.timestamp_marks == "entry" else node.where(role != "pausing")
    )


@rule("unknown_segment")
def known_segment(b: Batch) -> None:
    segment = text_values(declared_column(b.raw, b.cfg, "segment"))
    if b.cfg.segments is not None:
        mapped = segment.map(b.cfg.segments).astype("string")
        b.flag(segment.notna() & mapped.isna(), "unknown_segment", "segment is not in the source's declared segments")
        segment = mapped
    b.columns["segment"] = segment


@rule("unparseable_timestamp", "end_before_start")
def ordered_interval(b: Batch) -> None:
    if b.cfg.shape != "intervals":
        return
    start, end, cancelled = b.columns["start_at"], b.columns["end_at"], b.columns["cancelled_at"]
    b.flag(start.isna(), "unparseable_timestamp", "start_at is missing")
    b.flag(end < start, "end_before_start", "end_at is before start_at")
    b.flag(cancelled < start, "end_before_start", "cancelled_at is before start_at")


@rule("start_in_future")
def not_in_future(b: Batch) -> None:
    begins_field = "start_at" if b.cfg.shape == "intervals" else "event_at"
    latest_possible, skew = _latest_possible(b)
    b.flag(
        b.columns[begins_field] > latest_possible,
        "start_in_future",
        f"{begins_field} is later than extraction time plus the clock-skew allowance of {skew}",
    )


@rule("instant_in_future")
def ends_not_in_future(b: Batch) -> None:
    """An end or cancellation that has not happened yet when the row was extracted (a mistyped year,
    2031): it would make the run count as done, on time or late, long before it ends."""
    latest_possible, skew = _latest_possible(b)
    for name in ("end_at", "cancelled_at") if b.cfg.shape == "intervals" else ():
        b.flag(
            b.columns[name] > latest_possible,
            "instant_in_future",
            f"{name} is later than extraction time plus the clock-skew allowance of {skew}",
        )


def _latest_possible(b: Batch) -> tuple[pd.Timestamp, str]:
    """The latest instant a source can already report: extraction time plus the clock-skew allowance."""
    skew = b.cfg.clock_skew or "0s"
    return pd.Timestamp(b.extracted_at) + pd.Timedelta(seconds=parse_duration(skew)), skew


OVERLAP_DETAIL = "overlaps another run of the same work order and node"


@rule("overlapping_run")
def not_overlapping(b: Batch) -> None:
    """Two passes through one node of a work order cannot run at once (interval sources). A window read in
    batches is judged after its last batch (orchestration/landing/batch.py): a run may overlap one that
    comes batches later."""
    if b.cfg.shape != "intervals":
        return
    runs = runs_of(b)
    if b.state is not None and b.state.runs is not None:
        b.state.runs.append(runs)
        return
    row_key = b.columns["source_row_key"]
    b.flag(row_key.isin(overlapping_keys([runs])) & b.ok, "overlapping_run", OVERLAP_DETAIL)


# The reason codes in the order they are tested.
REASON_CODES = tuple(dict.fromkeys(code for r in RULES for code in r.reason_codes))


def text_values(series: pd.Series) -> pd.Series:
    """Source values as stripped strings, with blanks as missing."""
    out = series.astype("string").str.strip()
    return out.mask(out == "")


# An ISO-8601 time of day followed by an offset (or Z) is an instant; a value without one is local time.
# (pandas cannot parse both kinds in one call: "Mixed timezones detected".) Spelled without \s and \d,
# which RE2 reads differently from Python: pandas would match those with Python's re, value by value
# (19 s of a 3M-row window), instead of in Arrow.
_WITH_OFFSET = (
    r"[T \t][0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2}(?:[.,][0-9]+)?)?)?[ \t]*(?:[zZ]|[+-][0-9]{1,2}(?::?[0-9]{2})?)$"  # noqa: E501
)


def timestamp_shape(cfg: SourceConfig) -> str:
    """The declared shape of a source's instants, as the quarantine detail names it."""
    return f"epoch {cfg.timestamp_unit}" if cfg.timestamp_unit else " or ".join(cfg.timestamp_formats)


def _instants(series: pd.Series, cfg: SourceConfig) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse to naive UTC, vectorised per declared format. Returns (instant, unparseable mask,
    not-unique-local-time mask). A value with an offset is converted by its own offset, so offsets may
    differ from row to row (DST); a value without is local time in the source's zone."""
    nat = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(series):
        aware = series.dt.tz_convert("UTC") if series.dt.tz is not None else nat.dt.tz_localize("UTC")
        local, text = (nat if series.dt.tz is not None else series), series.astype("string").mask(series.isna())
    elif cfg.timestamp_unit:
        text = text_values(series)
        aware = pd.to_datetime(pd.to_numeric(text, errors="coerce"), unit=cfg.timestamp_unit, utc=True, errors="coerce")
        local = nat
    else:
        text = text_values(series)
        aware, local = _parsed_text(text, cfg.timestamp_formats)
    localised = local.dt.tz_localize(cfg.zone, ambiguous="NaT", nonexistent="NaT")
    instant = aware.fillna(localised.dt.tz_convert("UTC")).dt.tz_localize(None).astype("datetime64[us]")
    return instant, text.notna() & aware.isna() & local.isna(), localised.isna() & local.notna()


def composite_key(parts: list[pd.Series]) -> pd.Series:
    """One key from one or several columns, e.g. `T-1|4`: a `|` or `\\` inside a part is escaped, so two
    different rows never share a key; missing when a part is."""
    if len(parts) == 1:
        return parts[0]
    escaped = [part.str.replace("\\", "\\\\", regex=False).str.replace("|", "\\|", regex=False) for part in parts]
    return escaped[0].str.cat(escaped[1:], sep="|")


def _parsed_text(text: pd.Series, formats: list[str]) -> tuple[pd.Series, pd.Series]:
    """Each format tried in order on the rows no earlier one read: (the values with an offset, as UTC
    instants; the values without, as naive wall-clock times). NaT where a value is not of that kind."""
    todo = text.notna()
    aware = local = None
    for fmt in formats:
        if fmt == "ISO8601":
            offset = text.str.contains(_WITH_OFFSET, na=False)
        else:
            offset = pd.Series("%z" in fmt or "%Z" in fmt, index=text.index)
        read_aware = pd.to_datetime(text.where(todo & offset), format=fmt, utc=True, errors="coerce")
        read_local = _wall_clock(text.where(todo & ~offset), fmt)
        aware = read_aware if aware is None else aware.fillna(read_aware)
        local = read_local if local is None else local.fillna(read_local)
        todo &= read_aware.isna() & read_local.isna()
    return aware, local


def _wall_clock(text: pd.Series, fmt: str) -> pd.Series:
    """Values without an offset as naive times. Should an offset pandas knows slip past _WITH_OFFSET, pandas
    refuses the whole call: those values then stay unread by this format (quarantined unless another
    format reads them) rather than failing the batch."""
    try:
        return pd.to_datetime(text, format=fmt, errors="coerce")
    except ValueError:
        return pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")


def declared_column(raw: pd.DataFrame, cfg: SourceConfig, field: str) -> pd.Series:
    name = cfg.columns.get(field)
    if name is None:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    return raw[name]


def _map_codes(keys: pd.DataFrame, mapping: pd.DataFrame, on: list[str], target: str) -> pd.Series:
    """Vectorised lookup of (process, code) -> canonical code; missing -> NA."""
    merged = keys.merge(mapping, how="left", on=on)
    return pd.Series(merged[target].to_numpy(), index=keys.index, dtype="string")


def raw_records(bad: pd.DataFrame) -> list[str]:
    """Each quarantined row as received: its columns as JSON, or the line itself (undecodable, or with
    a field count other than its header's)."""
    if bad.empty:
        return []
    line = pd.Series(pd.NA, index=bad.index, dtype="string")
    for kept_as_line in (UNDECODABLE, LINE):  # lines that fit no columns are kept as the line itself
        if kept_as_line in bad:
            line = line.fillna(bad[kept_as_line].astype("string"))
    columns = bad.drop(columns=list(READER_COLUMNS), errors="ignore").astype("string")
    as_json = pd.Series(columns.to_json(orient="records", lines=True, force_ascii=False).splitlines(), index=bad.index)
    return as_json.where(line.isna(), line).tolist()


def runs_of(b: Batch) -> pd.DataFrame:
    """The batch's accepted runs as `overlapping_keys` needs them: the row key (and two 64-bit hashes of it),
    its work order, process and node as two 64-bit hashes (the group; a false match needs both hashes to
    collide), the start, the stop (end, else cancellation, else open) and the version's place in the window
    (partition, then delivery)."""
    c, ok = b.columns, b.ok.to_numpy()
    key = c["source_row_key"][ok].astype(_ARROW_TEXT).reset_index(drop=True)
    group = [c[k][ok].reset_index(drop=True) for k in ("work_order_id", "process_code", "node_code")]
    stop = c["end_at"].fillna(c["cancelled_at"]).fillna(_OPEN_END)
    before = b.state.rows_before if b.state is not None else 0
    (key_1, key_2), (group_1, group_2) = hash_pair([key]), hash_pair(group)
    return pd.DataFrame(
        {
            "key": key,
            "key_1": key_1,
            "key_2": key_2,
            "group_1": group_1,
            "group_2": group_2,
            "start": c["start_at"][ok].to_numpy(),
            "stop": stop[ok].to_numpy(),
            "day": c["partition_date"][ok].to_numpy(),
            "pos": np.arange(len(ok), dtype="int64")[ok] + before,
        }
    )


def overlapping_keys(batches: list[pd.DataFrame]) -> pd.Index:
    """The keys of the runs that overlap an earlier-starting run of the same work order and node (touching
    runs are fine; equal starts are ordered by key). Versions of one source row (same key, several days)
    are one run: its newest version stands for it, and every version of an overlapping run is flagged.

    Sorted on numbers (numpy's lexsort, stable): the keys' text only orders the few runs that start
    together in one group."""
    runs = pd.concat(batches, ignore_index=True) if len(batches) > 1 else batches[0]
    runs = runs.take(np.lexsort((runs.pos.to_numpy(), runs.day.to_numpy())))
    runs = runs[~runs.duplicated(["key_1", "key_2"], keep="last").to_numpy()].reset_index(drop=True)
    g1, g2, start = runs.group_1.to_numpy(), runs.group_2.to_numpy(), runs.start.to_numpy()
    order = np.lexsort((start, g2, g1))
    together = ~_differs(g1[order], g2[order], start[order])
    if together.any():  # runs of one group starting together: by key
        tied = order[together | np.r_[together[1:], False]]
        by_key = np.zeros(len(runs), dtype="int64")
        by_key[tied] = runs.key.take(tied).rank(method="dense").to_numpy().astype("int64")
        order = np.lexsort((by_key, start, g2, g1))
    runs = runs.take(order).reset_index(drop=True)
    first = _differs(runs.group_1.to_numpy(), runs.group_2.to_numpy())
    latest_stop = runs.stop.shift().mask(first).groupby(np.cumsum(first)).cummax()
    return pd.Index(runs.key[runs.start < latest_stop].unique())


def _differs(*columns: np.ndarray) -> np.ndarray:
    """For sorted columns: whether each row differs from the one before in any of them (the first does)."""
    differs = np.ones(len(columns[0]), dtype=bool)
    if len(differs) > 1:
        differs[1:] = np.logical_or.reduce([column[1:] != column[:-1] for column in columns])
    return differs
