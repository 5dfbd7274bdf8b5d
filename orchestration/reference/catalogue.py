"""The process catalogue (config/processes.yaml): processes and their nodes, each node owned by a
department and a position."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

WILDCARD = "*"


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True)
class Catalogue:
    processes: pd.DataFrame  # process_code, process_name, owner_department
    nodes: pd.DataFrame  # process_code, node_code, node_name, node_order, department, position

    def node_keys(self) -> set[tuple[str, str]]:
        return set(zip(self.nodes.process_code, self.nodes.node_code, strict=True))


def load_catalogue(path: Path) -> Catalogue:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
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
            raise CatalogueError(f"{path.name}: duplicate {key}: {dup[key].drop_duplicates().values.tolist()}")
    return Catalogue(proc, nod)
