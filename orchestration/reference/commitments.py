"""The versioned commitments (config/commitments.yaml), read and validated against the catalogue and
the calendars.

Service-quality staff edit config/commitments.yaml; every rule about what makes a commitment valid
lives here, and each error names the file, the line and the entry (its index and its process / node /
segment) so the author can fix it without reading code.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from orchestration.config_files import ConfigFile, StrictModel, entry_name, read_config
from orchestration.errors import ConfigError
from orchestration.reference.calendars import WALL_CLOCK, CalendarVersion, parse_duration, validity
from orchestration.reference.catalogue import WILDCARD, Catalogue

Instant = datetime | date | str


class CommitmentError(ConfigError):
    pass


class CommitmentEntry(StrictModel):
    process: str
    node: str
    segment: str = WILDCARD
    commitment: int | float | str
    tolerance: int | float | str
    valid_from: Instant
    valid_to: Instant | None = None
    clock: str = WALL_CLOCK
    department: str | None = None
    position: str | None = None

    @property
    def label(self) -> str:
        return f"{self.process} / {self.node} / {self.segment}"


class CommitmentsFile(StrictModel):
    commitments: list[CommitmentEntry]


def load_commitments(
    path: Path, catalogue: Catalogue, calendars: dict[str, list[CalendarVersion]], tz: ZoneInfo
) -> pd.DataFrame:
    """One row per commitment version, instants in UTC, with a stable version id and its clock
    (`wall` or a calendar of config/calendars.yaml, whose nominal working day a `d` means).
    Raises CommitmentError naming the file, line and entry (`commitments[i]` and its key) on any invalid entry."""
    try:
        file, raw = read_config(path, CommitmentsFile, "set COMMITMENTS_FILE, or put commitments.yaml in the "
                                "configuration directory (COMMITMENTS_CONFIG_DIR)")  # fmt: skip
    except ConfigError as exc:
        raise CommitmentError(str(exc)) from None
    rows = [_row(file, i, e, catalogue, calendars, tz) for i, e in enumerate(raw.commitments)]
    columns = ["entry", "process_code", "node_code", "segment", "commitment_seconds", "tolerance_seconds",
               "valid_from", "valid_to", "clock", "department", "position"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns)
    frame["valid_from"] = pd.to_datetime(frame.valid_from)
    frame["valid_to"] = pd.to_datetime(frame.valid_to)
    _reject_overlaps(file, raw, frame)
    frame["commitment_version_id"] = (
        frame.process_code
        + "|"
        + frame.node_code
        + "|"
        + frame.segment
        + "|"
        + frame.valid_from.dt.strftime("%Y-%m-%dT%H:%M:%S")
    )
    return frame.drop(columns=["entry"])


def _row(
    file: ConfigFile, i: int, e: CommitmentEntry, catalogue: Catalogue, calendars: dict[str, list[CalendarVersion]],
    tz: ZoneInfo,
) -> dict:  # fmt: skip
    def fail(message: str) -> CommitmentError:
        return CommitmentError(file.message(("commitments", i), message, e.label))

    _check_key(e, catalogue, fail)
    if e.clock != WALL_CLOCK and e.clock not in calendars:
        known = ", ".join(sorted(calendars)) or "none"
        raise fail(f"clock {e.clock!r} is neither 'wall' nor a calendar of calendars.yaml (calendars: {known})")
    # Versions of one calendar may differ in hours but share the nominal day, so a limit has one meaning.
    day = calendars[e.clock][0].nominal_day_seconds if e.clock != WALL_CLOCK else 86400
    try:
        commitment = parse_duration(e.commitment, day)
        tolerance = parse_duration(e.tolerance, day)
        valid_from, valid_to = validity(e.valid_from, e.valid_to, tz)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if commitment <= 0:
        raise fail("commitment must be positive")
    if tolerance < commitment:
        raise fail(f"tolerance {e.tolerance} is shorter than commitment {e.commitment}")
    owners = {(r.process_code, r.node_code): (r.department, r.position) for r in catalogue.nodes.itertuples()}
    proc_owner = dict(zip(catalogue.processes.process_code, catalogue.processes.owner_department, strict=True))
    department, position = owners.get((e.process, e.node), (proc_owner[e.process], None))
    return {
        "entry": i, "process_code": e.process, "node_code": e.node, "segment": e.segment,
        "commitment_seconds": commitment, "tolerance_seconds": tolerance, "valid_from": valid_from,
        "valid_to": valid_to, "clock": e.clock, "department": e.department or department,
        "position": e.position or position,
    }  # fmt: skip


def _check_key(e: CommitmentEntry, catalogue: Catalogue, fail) -> None:
    """Process, node and segment name the catalogue: a misspelt one would leave runs to another commitment."""
    if e.process not in set(catalogue.processes.process_code):
        known = ", ".join(catalogue.processes.process_code)
        raise fail(f"unknown process {e.process!r}; the processes of processes.yaml are {known}")
    if e.node != WILDCARD and (e.process, e.node) not in catalogue.node_keys():
        known = ", ".join(catalogue.nodes.node_code[catalogue.nodes.process_code == e.process])
        raise fail(f"unknown node {e.node!r} of process {e.process}; its nodes are {known} (or * for the process)")
    if e.segment != WILDCARD and e.segment not in catalogue.segments:
        known = ", ".join(catalogue.segments) or "none declared"
        raise fail(
            f"unknown segment {e.segment!r}; the segments of processes.yaml are {known} (or * for the default): "
            "declare a new segment under `segments:` there"
        )


def _reject_overlaps(file: ConfigFile, raw: CommitmentsFile, frame: pd.DataFrame) -> None:
    far = datetime(9999, 1, 1)
    for _, versions in frame.groupby(["process_code", "node_code", "segment"]):
        ordered = versions.sort_values("valid_from")
        ends = ordered.valid_to.fillna(far)
        for prev, nxt, prev_end in zip(ordered.entry.iloc[:-1], ordered.entry.iloc[1:], ends.iloc[:-1], strict=True):
            if frame.valid_from[nxt] < prev_end:
                before = ("commitments", int(prev))
                raise CommitmentError(
                    file.message(
                        ("commitments", int(nxt)),
                        f"overlaps {entry_name(before)} (line {file.line_of(before)}): a version ends (valid_to) "
                        "before the next one of the same key begins",
                        raw.commitments[nxt].label,
                    )
                )
