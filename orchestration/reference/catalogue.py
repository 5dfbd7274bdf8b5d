"""The process catalogue (config/processes.yaml): processes and their nodes, each node owned by a
department and a position, and the customer segments commitments may name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import Field

from orchestration.config_files import ConfigFile, StrictModel, read_config
from orchestration.errors import ConfigError

WILDCARD = "*"


class CatalogueError(ConfigError):
    pass


class NodeEntry(StrictModel):
    code: str = Field(min_length=1)
    name: str
    # The English name the reports and the dashboard show beside `name`; `name` when not given.
    name_en: str | None = None
    department: str
    position: str


class CalibrationEntry(StrictModel):
    """What a proposed commitment must achieve (docs/CALIBRATION.md): the share of completed runs within the
    proposed commitment, the share within the proposed tolerance, and the fewest completed runs a proposal
    is made from. The file's top-level `calibration` is the default; a process overrides any key."""

    normal_target: float | None = Field(default=None, gt=0, le=1)
    tolerance_target: float | None = Field(default=None, gt=0, le=1)
    min_runs: int | None = Field(default=None, ge=1)


DEFAULT_CALIBRATION = CalibrationEntry(normal_target=0.80, tolerance_target=0.95, min_runs=30)


class ProcessEntry(StrictModel):
    code: str = Field(min_length=1)
    name: str
    name_en: str | None = None
    owner_department: str
    nodes: list[NodeEntry] = Field(min_length=1)
    calibration: CalibrationEntry = CalibrationEntry()


class CatalogueFile(StrictModel):
    processes: list[ProcessEntry] = Field(min_length=1)
    # The customer segments (客户群) of every process: a commitment's segment other than `*` must be one,
    # and so must every code a source maps its segments onto.
    segments: list[str] = []
    calibration: CalibrationEntry = DEFAULT_CALIBRATION


@dataclass(frozen=True)
class Catalogue:
    # process_code, process_name, owner_department, process_name_en, calibration_normal_target,
    # calibration_tolerance_target, calibration_min_runs (the process's own value, else the file's, else
    # DEFAULT_CALIBRATION)
    processes: pd.DataFrame
    nodes: pd.DataFrame  # process_code, node_code, node_name, node_order, department, position, node_name_en
    segments: tuple[str, ...] = ()

    def node_keys(self) -> set[tuple[str, str]]:
        return set(zip(self.nodes.process_code, self.nodes.node_code, strict=True))


def load_catalogue(path: Path) -> Catalogue:
    """The catalogue, validated; raises CatalogueError naming the file, line and entry."""
    try:
        file, raw = read_config(path, CatalogueFile, "set COMMITMENTS_PROCESSES_FILE, or put processes.yaml in the "
                                "configuration directory (COMMITMENTS_CONFIG_DIR)")  # fmt: skip
    except ConfigError as exc:
        raise CatalogueError(str(exc)) from None
    _reject_repeats(file, raw)
    processes = [
        {
            "process_code": p.code,
            "process_name": p.name,
            "owner_department": p.owner_department,
            "process_name_en": p.name_en or p.name,
            **{f"calibration_{key}": _calibration(p.calibration, raw.calibration, key) for key in CALIBRATION_KEYS},
        }
        for p in raw.processes
    ]
    nodes = [
        {
            "process_code": p.code,
            "node_code": n.code,
            "node_name": n.name,
            "node_order": order,
            "department": n.department,
            "position": n.position,
            "node_name_en": n.name_en or n.name,
        }  # fmt: skip
        for p in raw.processes
        for order, n in enumerate(p.nodes, start=1)
    ]
    return Catalogue(pd.DataFrame(processes), pd.DataFrame(nodes), tuple(raw.segments))


CALIBRATION_KEYS = ("normal_target", "tolerance_target", "min_runs")


def _calibration(own: CalibrationEntry, file_default: CalibrationEntry, key: str) -> float | int:
    for entry in (own, file_default, DEFAULT_CALIBRATION):
        if getattr(entry, key) is not None:
            return getattr(entry, key)
    raise AssertionError(key)  # DEFAULT_CALIBRATION sets every key


def _reject_repeats(file: ConfigFile, raw: CatalogueFile) -> None:
    """A code names one thing: each process, each node of a process and each segment once; `*` means any."""
    seen: set[str] = set()
    for i, process in enumerate(raw.processes):
        _one(file, ("processes", i, "code"), process.code, seen, "process")
        nodes: set[str] = set()
        for j, node in enumerate(process.nodes):
            _one(file, ("processes", i, "nodes", j, "code"), node.code, nodes, "node", f" of process {process.code}")
    segments: set[str] = set()
    for k, segment in enumerate(raw.segments):
        _one(file, ("segments", k), segment, segments, "segment")


def _one(file: ConfigFile, loc: tuple, code: str, seen: set[str], what: str, of: str = "") -> None:
    if code == WILDCARD:
        raise CatalogueError(file.message(loc, f"{WILDCARD!r} means any {what}; it cannot be a code"))
    if code in seen:
        raise CatalogueError(file.message(loc, f"{what} {code!r}{of} is declared twice"))
    seen.add(code)
