"""The versioned commitments (config/commitments.yaml), read and validated against the catalogue and
the calendars.

Service-quality staff edit config/commitments.yaml; every rule about what makes a commitment valid
lives here, and each error names the offending entry so the author can fix it without reading code.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import yaml

from orchestration.reference.calendars import WALL_CLOCK, CalendarVersion, parse_duration, validity
from orchestration.reference.catalogue import WILDCARD, Catalogue


class CommitmentError(ValueError):
    pass


def load_commitments(
    path: Path, catalogue: Catalogue, calendars: dict[str, list[CalendarVersion]], tz: ZoneInfo
) -> pd.DataFrame:
    """One row per commitment version, instants in UTC, with a stable version id and its clock
    (`wall` or a calendar of config/calendars.yaml, whose nominal working day a `d` means).
    Raises CommitmentError naming the line (1-based entry number and its key) on any invalid entry."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["commitments"]
    processes = set(catalogue.processes.process_code)
    node_keys = catalogue.node_keys()
    owners = {(r.process_code, r.node_code): (r.department, r.position) for r in catalogue.nodes.itertuples()}
    proc_owner = dict(zip(catalogue.processes.process_code, catalogue.processes.owner_department, strict=True))
    rows = []
    for i, e in enumerate(entries, start=1):
        process, node, segment = e.get("process"), str(e.get("node", "")), str(e.get("segment", WILDCARD))
        where = f"{path.name} entry {i} ({process} / {node} / {segment})"
        if process not in processes:
            raise CommitmentError(f"{where}: unknown process {process!r}")
        if node != WILDCARD and (process, node) not in node_keys:
            raise CommitmentError(f"{where}: unknown node {node!r} of process {process}")
        clock = str(e.get("clock", WALL_CLOCK))
        if clock != WALL_CLOCK and clock not in calendars:
            raise CommitmentError(f"{where}: clock {clock!r} is neither 'wall' nor a calendar of calendars.yaml")
        # Versions of one calendar may differ in hours but share the nominal day, so a limit has one meaning.
        day = calendars[clock][0].nominal_day_seconds if clock != WALL_CLOCK else 86400
        try:
            commitment = parse_duration(e["commitment"], day)
            tolerance = parse_duration(e["tolerance"], day)
        except (KeyError, ValueError) as exc:
            raise CommitmentError(f"{where}: {exc}") from exc
        if commitment <= 0:
            raise CommitmentError(f"{where}: commitment must be positive")
        if tolerance < commitment:
            raise CommitmentError(f"{where}: tolerance {e['tolerance']} is shorter than commitment {e['commitment']}")
        valid_from, valid_to = validity(e, tz, where, CommitmentError)
        department, position = owners.get((process, node), (proc_owner[process], None))
        rows.append(
            {
                "entry": i,
                "where": where,
                "process_code": process,
                "node_code": node,
                "segment": segment,
                "commitment_seconds": commitment,
                "tolerance_seconds": tolerance,
                "valid_from": valid_from,
                "valid_to": valid_to,
                "clock": clock,
                "department": e.get("department", department),
                "position": e.get("position", position),
            }
        )
    frame = pd.DataFrame(rows)
    _reject_overlaps(frame)
    frame["commitment_version_id"] = (
        frame.process_code
        + "|"
        + frame.node_code
        + "|"
        + frame.segment
        + "|"
        + frame.valid_from.dt.strftime("%Y-%m-%dT%H:%M:%S")
    )
    return frame.drop(columns=["entry", "where"])


def _reject_overlaps(frame: pd.DataFrame) -> None:
    far = datetime(9999, 1, 1)
    for _, versions in frame.groupby(["process_code", "node_code", "segment"]):
        ordered = versions.sort_values("valid_from")
        ends = ordered.valid_to.fillna(far)
        for (_, prev), (_, nxt), prev_end in zip(
            ordered.iloc[:-1].iterrows(), ordered.iloc[1:].iterrows(), ends.iloc[:-1], strict=True
        ):
            if nxt.valid_from < prev_end:
                raise CommitmentError(f"{nxt['where']}: overlaps {prev['where']}")
