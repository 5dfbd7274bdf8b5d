"""Extraction from HTTP JSON APIs that page through rows of a time window."""

from __future__ import annotations

from datetime import UTC

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from orchestration.periods import Window
from orchestration.sources.config import SourceConfig
from orchestration.sources.errors import INVALID_JSON_PAGE, PAGE_WITHOUT_RECORDS, SourceRejected


class ApiPageError(SourceRejected):
    """A page whose rows cannot be read: the pages after it are unknown too, so the batch is rejected."""


def _session(token: str | None) -> requests.Session:
    session = requests.Session()
    retry = Retry(total=5, backoff_factor=0.5, status_forcelist=(429, 500, 502, 503, 504))
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def read_http(cfg: SourceConfig, window: Window) -> pd.DataFrame:
    assert cfg.endpoint is not None
    values = {
        "window_start_utc": window.start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_end_utc": window.end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    params = {k: v.format(**values) if isinstance(v, str) else v for k, v in cfg.params.items()}
    url = cfg.connection_url().rstrip("/") + cfg.endpoint
    frames: list[pd.DataFrame] = []
    page: int | None = 1
    with _session(cfg.connection_token()) as session:
        while page is not None:
            response = session.get(url, params={**params, "page": page}, timeout=60)
            response.raise_for_status()
            try:
                body = response.json()
            except ValueError as exc:
                raise ApiPageError(
                    f"source {cfg.name}: page {page} of {url} is not valid JSON; the whole batch is rejected "
                    f"(body starts {response.text[:80]!r})",
                    INVALID_JSON_PAGE,
                ) from exc
            rows = body.get(cfg.records) if isinstance(body, dict) else None
            if not isinstance(rows, list):
                raise ApiPageError(
                    f"source {cfg.name}: page {page} of {url} has no list in field {cfg.records!r}; the whole batch "
                    f"is rejected (fields found: {sorted(body) if isinstance(body, dict) else type(body).__name__})",
                    PAGE_WITHOUT_RECORDS,
                )
            if rows:
                frames.append(pd.DataFrame.from_records(rows))
            page = body.get(cfg.next_page)  # type: ignore[union-attr]
    if not frames:
        return pd.DataFrame(columns=list(cfg.columns.values()))
    return pd.concat(frames, ignore_index=True)
