"""Turn a source's raw rows into canonical landing rows, vectorised; bad rows become quarantine rows.

Everything a source declares (column mapping, time zone, timestamp format, code mappings, status
roles) is applied by the rules (orchestration/landing/rules.py), so the warehouse only ever sees
canonical codes and UTC instants. Every row received ends up either accepted or quarantined with a
reason: received = accepted + quarantined.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from orchestration.landing.rules import RULES, Batch, WindowState, declared_column, raw_records, text_values
from orchestration.landing.tables import LANDING_BY_SHAPE, QUARANTINE
from orchestration.periods import Window
from orchestration.reference.catalogue import Catalogue
from orchestration.sources.config import SourceConfig
from orchestration.sources.errors import MISSING_COLUMNS, SourceRejected
from orchestration.sources.file import LINE, UNDECODABLE


@dataclass
class Extract:
    source_system: str
    shape: str
    rows: pd.DataFrame
    quarantine: pd.DataFrame
    received: int
    # The accepted rows as received, row for row, while a rule is still to judge them after the window's
    # last batch (`WindowState.runs`): what the quarantine keeps of the ones it then rejects.
    received_rows: pd.DataFrame | None = None

    @property
    def accepted(self) -> int:
        return len(self.rows)


def normalise(
    cfg: SourceConfig, raw: pd.DataFrame, window: Window, catalogue: Catalogue, state: WindowState | None = None
) -> Extract:
    """One batch of the window's rows (the whole window when `state` is None). The batches of one window
    share a `state`, and give together what the whole window read at once gives; `check_columns(cfg,
    state)` after the last batch rejects a source none of whose batches had a declared column."""
    whole = state is None
    state = state or WindowState(datetime.now(UTC).replace(tzinfo=None))
    state.columns_seen.update(dict.fromkeys(raw.columns))
    state.raw_rows += len(raw)
    if whole:
        check_columns(cfg, state)
    else:  # a column absent from this batch may be in another (HTTP records): checked at the end
        raw = raw.reindex(columns=[*raw.columns, *[c for c in cfg.source_columns if c not in raw.columns]])
    batch = Batch(cfg, raw, window, catalogue, state.extracted_at, state=state)
    for rule in RULES:
        rule.apply(batch)
    extract = Extract(cfg.name, cfg.shape, _accepted(batch), _quarantined(batch), batch.received)
    if state.runs is not None:
        extract.received_rows = batch.raw[batch.ok.to_numpy()].reset_index(drop=True)
    state.rows_before += batch.received
    assert extract.received == extract.accepted + len(extract.quarantine), "rows lost in normalisation"
    return extract


def check_columns(cfg: SourceConfig, state: WindowState) -> None:
    missing = sorted(set(cfg.source_columns) - set(state.columns_seen))
    if missing and state.raw_rows:
        raise SourceRejected(
            f"source {cfg.name}: rows lack declared columns {missing}; the whole batch is rejected "
            f"(found {[c for c in state.columns_seen if not c.startswith('_')]})",
            MISSING_COLUMNS,
        )


def _accepted(b: Batch) -> pd.DataFrame:
    c, good = b.columns, b.ok.to_numpy()
    rows = pd.DataFrame(
        {
            "source_system": b.cfg.name,
            "extracted_at": b.extracted_at,
            "department": text_values(declared_column(b.raw, b.cfg, "department")),
            "position": text_values(declared_column(b.raw, b.cfg, "position")),
            **{k: v for k, v in c.items() if k not in ("undecodable", "status_code", "event_role")},
        }
    )
    if b.cfg.shape == "status_history":
        rows = rows.assign(
            # Order of delivery breaks ties between events of one work order at the same instant.
            event_seq=np.arange(len(b.raw), dtype="int64") + (b.state.rows_before if b.state else 0),
            status_code=c["status_code"],
            event_role=c["event_role"],
            timestamp_marks=b.cfg.timestamp_marks,
            update_snapshot=b.cfg.update_snapshots,
        )
    return rows[good][LANDING_BY_SHAPE[b.cfg.shape].column_names].reset_index(drop=True)


def _quarantined(b: Batch) -> pd.DataFrame:
    bad = (~b.ok).to_numpy()
    return quarantine_rows(
        b.cfg, b.raw[bad], b.columns["partition_date"][bad], b.extracted_at, b.reasons[bad], b.details[bad]
    )


def quarantine_rows(
    cfg: SourceConfig,
    raw: pd.DataFrame,
    partition_date: pd.Series,
    extracted_at: datetime | pd.Series,
    reason_code: pd.Series | str,
    reason_detail: pd.Series | str,
) -> pd.DataFrame:
    """Quarantine rows for rejected rows as received (`raw`), with their partition and reason."""

    def column(value: object) -> object:
        return value.reset_index(drop=True) if isinstance(value, pd.Series) else value

    return pd.DataFrame(
        {
            "source_system": cfg.name,
            "partition_date": column(partition_date),
            "extracted_at": column(extracted_at),
            "reason_code": column(reason_code),
            "reason_detail": column(reason_detail),
            "raw_record": raw_records(_kept_columns(raw, cfg)),
        },
        index=pd.RangeIndex(len(raw)),
    )[QUARANTINE.column_names]


def _kept_columns(bad: pd.DataFrame, cfg: SourceConfig) -> pd.DataFrame:
    """What the quarantine keeps of its rows: the declared (mapped) columns only, unless the source opts in
    to the whole row (`keep_raw_row`): the others may hold data the pipeline has no business storing. An
    undecodable line, or one with a field count other than its header's, is cut into its fields for that
    (the few such lines, one by one): fields beyond the header are not kept."""
    if cfg.keep_raw_row or bad.empty:
        return bad
    header = [c for c in bad.columns if not c.startswith("_")]
    mapped = [c for c in dict.fromkeys(cfg.columns.values()) if c in header]
    kept = bad[mapped].astype("string")
    for kept_as_line in (UNDECODABLE, LINE):  # lines kept whole when the row may be kept whole
        if kept_as_line not in bad:
            continue
        lines = bad[kept_as_line].dropna()
        fields = pd.DataFrame([dict(zip(header, row, strict=False)) for row in csv.reader(lines)], index=lines.index)
        kept.loc[lines.index, mapped] = fields.reindex(columns=mapped).astype("string")
    return kept
