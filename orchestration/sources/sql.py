"""Extraction from SQL databases through SQLAlchemy (any dialect with a driver installed)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import create_engine, text

from orchestration.periods import Window
from orchestration.sources.config import SourceConfig

_LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


def read_sql(cfg: SourceConfig, window: Window) -> pd.DataFrame:
    """Run the declared query for the window; bind parameters are naive local times of the source,
    as strings, because that compares correctly against text (SQLite) and DATETIME columns alike."""
    params = {
        "window_start": window.start.astimezone(cfg.zone).strftime(_LOCAL_FORMAT),
        "window_end": window.end.astimezone(cfg.zone).strftime(_LOCAL_FORMAT),
    }
    engine = create_engine(cfg.connection_url())
    try:
        with engine.connect() as conn:
            result = conn.execute(text(cfg.query), params)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    finally:
        engine.dispose()
    return frame
