"""The process catalogue and the versioned commitments, read from config/ and validated.

Service-quality staff edit config/commitments.yaml; every rule about what makes a commitment valid
lives here, and each error names the offending line so the author can fix it without reading code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import yaml

from orchestration.calendars import WALL_CLOCK, CalendarVersion, load_calendars, parse_duration, validity
from orchestration.settings import CONFIG_DIR, pipeline_settings

WILDCARD = "*"


class CommitmentError(ValueError):
    pass


def catalogue_path() -> Path:
    return Path(os.environ.get("COMMITMENTS_PROCESSES_FILE", CONFIG_DIR / "processes.yaml"))


def commitments_path() -> Path:
    return Path(os.environ.get("COMMITMENTS_FILE", CONFIG_DIR / "commitments.yaml"))


@dataclass(frozen=True)
class Catalogue:
    processes: pd.DataFrame  # process_code, process_name, owner_department
    nodes: pd.DataFrame  # process_code, node_code, node_name, node_order, department, position

    def node_keys(self) -> set[tuple[str, str]]:
        return set(zip(self.nodes.process_code, self.nodes.node_code, strict=True))


def load_catalogue(path: Path | None = None) -> Catalogue:
    raw = yaml.safe_load((path or catalogue_path()).read_text(encoding="utf-8"))
    processes, nodes = [], []
    for p in raw["processes"]:
        processes.append(
            {"process_code": p["code"], "process_name": p["name"], "owner_department": p["owner_department"]}
        )
        for order, n in enumerate(p["nodes"], start=1):
            nodes.append(
                {
                    "process_code": p["code"],
                    "node_code": n["code"],
                    "node_name": n["name"],
                    "node_order": order,
                    "department": n["department"],
                    "position": n["position"],
                }
            )
    proc, nod = pd.DataFrame(processes), pd.DataFrame(nodes)
    for frame, key in ((proc, ["process_code"]), (nod, ["process_code", "node_code"])):
        dup = frame[frame.duplicated(key, keep=False)]
        if len(dup):
            raise CommitmentError(f"processes.yaml: duplicate {key}: {dup[key].drop_duplicates().values.tolist()}")
    return Catalogue(proc, nod)


def load_commitments(
    catalogue: Catalogue, path: Path | None = None, calendars: dict[str, list[CalendarVersion]] | None = None
) -> pd.DataFrame:
    """One row per commitment version, instants in UTC, with a stable version id and its clock
    (`wall` or a calendar of config/calendars.yaml, whose nominal working day a `d` means).
    Raises CommitmentError naming the line (1-based entry number and its key) on any invalid entry."""
    path = path or commitments_path()
    settings = pipeline_settings()
    tz = settings.business_time_zone
    if calendars is None:
        calendars = load_calendars(settings.history_start)
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


def business_periods(first: date, last: date) -> pd.DataFrame:
    """Every day, ISO week and month between two dates, with bounds as UTC instants drawn in the
    business time zone (so DST zones get 23- and 25-hour days right)."""
    tz = pipeline_settings().business_time_zone
    rows = []
    days = pd.date_range(first, last, freq="D")
    starts = {
        "day": days,
        "week": days[days.dayofweek == 0],
        "month": days[days.day == 1],
    }
    offsets = {"day": pd.DateOffset(days=1), "week": pd.DateOffset(weeks=1), "month": pd.DateOffset(months=1)}
    for grain, local_starts in starts.items():
        local_ends = local_starts + offsets[grain]
        rows.append(
            pd.DataFrame(
                {
                    "period_grain": grain,
                    "period_start_date": local_starts.date,
                    "period_start": local_starts.tz_localize(tz).tz_convert("UTC").tz_localize(None),
                    "period_end": local_ends.tz_localize(tz).tz_convert("UTC").tz_localize(None),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    out["period_id"] = out.period_grain + ":" + pd.to_datetime(out.period_start_date).dt.strftime("%Y-%m-%d")
    return out
