"""A source's window: read and normalised batch by batch (`extract_batches`), then landed in place of the
window's previous load (`land_batches`), with its counts in the extraction log. `extract` and `land` are
the same for a window held whole (a short one: tests, the live evaluation).

The warehouse takes each batch in a thread of its own (`_written_behind`) while the next batch is read and
normalised: a COPY or a DuckDB insert mostly waits on the warehouse, without the GIL, so reading need not wait
for it (a 5M-row window: 21 -> 16 s on DuckDB, 46 -> 36 s on PostgreSQL; BENCHMARKS.md)."""

from __future__ import annotations

import pickle
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

import pandas as pd

from orchestration.landing.normalise import Extract, check_columns, normalise, quarantine_rows
from orchestration.landing.rules import OVERLAP_DETAIL, WindowState, overlapping_keys
from orchestration.landing.tables import EXTRACTION_LOG, LANDING_BY_SHAPE, LANDING_TABLES, MONITORING_TABLES, QUARANTINE
from orchestration.periods import Window
from orchestration.reference.catalogue import Catalogue
from orchestration.sources.config import SourceConfig
from orchestration.sources.read import read_batches
from orchestration.warehouse import Frames, Warehouse


def ensure_landing(warehouse: Warehouse) -> None:
    """Create the landing tables (and the live evaluation's) that do not exist yet."""
    warehouse.ensure_tables(warehouse.landing_schema, (*LANDING_TABLES, *MONITORING_TABLES))


def extract_batches(cfg: SourceConfig, window: Window, catalogue: Catalogue) -> Iterator[Extract]:
    """The window's rows, read and normalised about `cfg.batch_rows` at a time; together the batches are
    what one normalisation of the whole window gives (the rules carry a `WindowState` between them).

    An interval source's runs of a window in several batches are judged for `overlapping_run` after the
    last batch: a run may overlap one of a later batch, and every version of it is rejected, including
    those of earlier batches. So its batches wait on disk, with their accepted rows as received, until
    then; in memory only the runs' keys, groups and times are kept (`rules.runs_of`)."""
    state = WindowState(datetime.now(UTC).replace(tzinfo=None))
    raws = iter(read_batches(cfg, window))
    raw = next(raws)  # a reader yields at least one frame
    following = next(raws, None)
    if following is None:  # one batch: the rows themselves are compared, no hashes, nothing waits
        yield normalise(cfg, raw, window, catalogue, state)
        check_columns(cfg, state)
        return
    state.batched = True
    if cfg.shape == "intervals":
        state.runs = []
    batches = _normalised(cfg, chain([raw, following], raws), window, catalogue, state)
    if state.runs is None:
        yield from batches
        return
    with tempfile.TemporaryDirectory(prefix="landing-") as spill:
        waiting = [_spilled(batch, Path(spill) / f"{i}.pickle") for i, batch in enumerate(batches)]
        overlapping = overlapping_keys(state.runs)
        state.runs = None
        for path in waiting:
            yield _judged(cfg, _unspilled(path), overlapping)


def _normalised(
    cfg: SourceConfig, raws: Iterator[pd.DataFrame], window: Window, catalogue: Catalogue, state: WindowState
) -> Iterator[Extract]:
    for raw in raws:
        yield normalise(cfg, raw, window, catalogue, state)
    check_columns(cfg, state)


def _spilled(batch: Extract, path: Path) -> Path:
    with path.open("wb") as out:
        pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _unspilled(path: Path) -> Extract:
    with path.open("rb") as spilled:
        batch = pickle.load(spilled)  # noqa: S301 - our own file of this run, in a directory of our own
    path.unlink()
    return batch


def _judged(cfg: SourceConfig, batch: Extract, overlapping: pd.Index) -> Extract:
    """The batch with its runs of `overlapping` moved from its accepted rows to its quarantine."""
    rows, received = batch.rows, batch.received_rows
    hit = rows.source_row_key.isin(overlapping).to_numpy()
    if not hit.any():
        return Extract(batch.source_system, batch.shape, rows, batch.quarantine, batch.received)
    moved = quarantine_rows(
        cfg, received[hit], rows.partition_date[hit], rows.extracted_at[hit], "overlapping_run", OVERLAP_DETAIL
    )
    quarantine = pd.concat([batch.quarantine, moved], ignore_index=True) if len(batch.quarantine) else moved
    return Extract(batch.source_system, batch.shape, rows[~hit].reset_index(drop=True), quarantine, batch.received)


def extract(cfg: SourceConfig, window: Window, catalogue: Catalogue) -> Extract:
    """The whole window as one `Extract` (its batches put together)."""
    batches = list(extract_batches(cfg, window, catalogue))
    return Extract(
        cfg.name,
        cfg.shape,
        pd.concat([b.rows for b in batches], ignore_index=True),
        pd.concat([b.quarantine for b in batches], ignore_index=True),
        sum(b.received for b in batches),
    )


@dataclass
class Landed:
    """What a window's load put in landing: the counts of the rows received, accepted and quarantined (per
    reason), the rows written to the extraction log, and the seconds spent reading and normalising
    (`extract`) and loading (`land`)."""

    source_system: str
    shape: str
    received: int = 0
    accepted: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    log: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: dict[str, float] = field(default_factory=lambda: {"extract": 0.0, "land": 0.0})


def land_batches(
    warehouse: Warehouse, source_system: str, shape: str, window: Window, batches: Iterable[Extract]
) -> Landed:
    """Replace the window's partitions of this source in landing, quarantine and the extraction log with
    the batches' rows, all or nothing (`Warehouse.replacing_partitions`: a failure in any batch, or a killed
    run, leaves the previous load whole). A batch is written while the next one is read: two batches are in
    memory at most. `seconds`: "land" is the time spent waiting for the warehouse, "extract" the rest."""
    landed = Landed(source_system, shape)
    index = pd.DatetimeIndex(pd.to_datetime(window.days), name="partition_date").astype("datetime64[us]")
    accepted = pd.Series(0, index=index, dtype="int64")
    quarantined = pd.Series(0, index=index, dtype="int64")
    tables = [LANDING_BY_SHAPE[shape].name, QUARANTINE.name, EXTRACTION_LOG.name]
    started = time.perf_counter()
    with warehouse.replacing_partitions(window.partition_filter(source_system), tables) as add:
        opened = time.perf_counter()
        with _written_behind(add) as (write, waited):
            for batch in batches:
                accepted = accepted.add(batch.rows.groupby("partition_date").size(), fill_value=0)
                quarantined = quarantined.add(batch.quarantine.groupby("partition_date").size(), fill_value=0)
                landed.received += batch.received
                landed.accepted += batch.accepted
                landed.quarantined += len(batch.quarantine)
                for reason, rows in batch.quarantine.reason_code.value_counts().items():
                    landed.reasons[str(reason)] = landed.reasons.get(str(reason), 0) + int(rows)
                write({tables[0]: batch.rows, tables[1]: batch.quarantine})
            landed.log = _log(
                source_system, accepted.reindex(index, fill_value=0), quarantined.reindex(index, fill_value=0)
            )
            write({tables[2]: landed.log})
        drained = time.perf_counter()
    ended = time.perf_counter()
    landed.seconds["land"] = opened - started + waited[0] + ended - drained  # ended - drained: the commit
    landed.seconds["extract"] = ended - started - landed.seconds["land"]
    return landed


@contextmanager
def _written_behind(add: Callable[[Frames], None]) -> Iterator[tuple[Callable[[Frames], None], list[float]]]:
    """`write(frames)` hands `add(frames)` to a thread of its own and returns, so that the caller reads its
    next batch meanwhile; the writes run one at a time, in order, and `write` waits while one runs. An error
    in a write is raised in the caller's thread, at its next write or at the end of the block, which never
    ends before the last write has: the transaction is not ended under a write. `waited[0]`: the seconds
    `write` and the end of the block spent waiting for writes."""
    waited = [0.0]
    pending: list[Future[None]] = []

    def wait() -> None:
        if pending:
            began = time.perf_counter()
            try:
                pending.pop().result()
            finally:
                waited[0] += time.perf_counter() - began

    def write(frames: Frames) -> None:
        wait()
        pending.append(writer.submit(add, frames))

    # Leaving the executor's block waits for its thread: after an error in the block too, whose error stands.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="landing writer") as writer:
        yield write, waited
        wait()


def _log(source_system: str, accepted: pd.Series, quarantined: pd.Series) -> pd.DataFrame:
    counts = pd.DataFrame({"accepted": accepted.astype("int64"), "quarantined": quarantined.astype("int64")})
    counts = counts.reset_index()
    return pd.DataFrame(
        {
            "source_system": source_system,
            "partition_date": counts.partition_date,
            "extracted_at": pd.Timestamp.now("UTC").tz_localize(None),
            "rows_received": counts.accepted + counts.quarantined,
            "rows_accepted": counts.accepted,
            "rows_quarantined": counts.quarantined,
        }
    )[EXTRACTION_LOG.column_names]


def land(warehouse: Warehouse, result: Extract, window: Window) -> pd.DataFrame:
    """Replace the window's partitions of this source with one `Extract` (a window held whole). Returns the
    per-partition counts written to the log."""
    return land_batches(warehouse, result.source_system, result.shape, window, [result]).log
