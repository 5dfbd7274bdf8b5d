"""Extraction from file drops: CSV files in a declared encoding, one per day or one for all history."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from orchestration.settings import PROJECT_DIR, data_dir
from orchestration.sources.config import SourceConfig
from orchestration.sources.window import Window


class FileDropError(RuntimeError):
    pass


def _path_template(cfg: SourceConfig) -> str:
    if cfg.path_env and os.environ.get(cfg.path_env):
        return os.environ[cfg.path_env]
    assert cfg.path is not None
    return cfg.path


def is_daily(cfg: SourceConfig) -> bool:
    return "{date" in _path_template(cfg)


def _read_csv(cfg: SourceConfig, path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileDropError(f"source {cfg.name}: expected file {path} is missing")
    try:
        frame = pd.read_csv(path, encoding=cfg.encoding, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise FileDropError(f"source {cfg.name}: {path} is not valid {cfg.encoding}: {exc}") from exc
    # pandas renames a repeated header (Variant, Variant.1); declared columns are checked as given.
    missing = sorted(set(cfg.columns.values()) - set(frame.columns))
    if missing:
        raise FileDropError(
            f"source {cfg.name}: {path} lacks declared columns {missing}; the whole file is rejected "
            f"(found {list(frame.columns)})"
        )
    return frame


def read_file(cfg: SourceConfig, window: Window) -> pd.DataFrame:
    """Daily drops: read each day's file and tag rows with that day as their partition.
    A single history file: read it whole; rows are placed into partitions by their timestamp later."""
    template = _path_template(cfg)
    fmt = {"data_dir": data_dir(), "project_dir": PROJECT_DIR}
    if not is_daily(cfg):
        return _read_csv(cfg, Path(template.format(**fmt)))
    frames = []
    for day in window.days:
        frame = _read_csv(cfg, Path(template.format(date=day, **fmt)))
        frame["_partition_date"] = day
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(cfg.columns.values()))
