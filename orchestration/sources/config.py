"""The schema of a source-system declaration (config/sources/<name>.yaml).

A source system is configuration, not code: adding a fourth system of a known kind means adding a
YAML file here. Validation happens when the definitions load, so a broken file fails fast with the
file name and field in the message.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestration.calendars import parse_duration
from orchestration.settings import CONFIG_DIR, pipeline_settings

# Canonical fields a source column can be mapped onto, per shape.
INTERVAL_FIELDS = ("start_at", "end_at", "cancelled_at")
EVENT_FIELDS = ("status", "event_at")
COMMON_FIELDS = ("source_row_key", "work_order_id", "process", "node", "segment", "department", "position")


class SourceConfigError(ValueError):
    pass


class Connection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url_env: str = Field(description="environment variable holding the URL (never the URL itself)")
    token_env: str | None = Field(default=None, description="environment variable holding a bearer token")


class FreshnessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warn_after: str | None = None
    error_after: str | None = None


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["sql", "file", "http"]
    shape: Literal["intervals", "status_history"]
    time_zone: str
    columns: dict[str, str]

    # sql / http
    connection: Connection | None = None
    query: str | None = None
    endpoint: str | None = None
    params: dict[str, str | int] = {}
    records: str = "data"
    next_page: str = "next_page"
    # file
    path: str | None = None
    path_env: str | None = None
    encoding: str = "utf-8"
    timestamp_format: str | None = None
    # status history
    timestamp_marks: Literal["entry", "completion"] | None = None
    terminal_statuses: list[str] = []
    cancelling_statuses: list[str] = []
    # Statuses that stop the clock (waiting for the customer, for a vendor): they open no run; the work
    # order's runs open meanwhile go on, and the time in the pause is taken off their run time.
    pausing_statuses: list[str] = []
    # code mappings onto the catalogue
    process: str | None = None
    processes: dict[str, str] = {}
    nodes: dict[str, dict[str, str]] = {}
    segments: dict[str, str] | None = None
    # data quality (default: config/pipeline.yaml)
    quarantine_limit: float | None = Field(default=None, ge=0, le=1)
    clock_skew: str | None = None
    # warn_after / error_after override config/pipeline.yaml; `off` disables the check for this source.
    # (YAML reads an unquoted `off` as false: both mean off.)
    freshness: FreshnessConfig | Literal["off", False] | None = None

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        ZoneInfo(self.time_zone)  # raises on an unknown zone
        allowed = set(COMMON_FIELDS) | {"changed_at"}
        allowed |= set(INTERVAL_FIELDS) if self.shape == "intervals" else set(EVENT_FIELDS)
        unknown = set(self.columns) - allowed
        if unknown:
            raise ValueError(f"columns maps unknown canonical fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        needed = {"work_order_id"} | ({"start_at"} if self.shape == "intervals" else {"status", "event_at"})
        needed |= set() if self.process else {"process"}
        if self.shape == "intervals":
            needed.add("node")
        missing = needed - set(self.columns)
        if missing:
            raise ValueError(f"columns must map {sorted(missing)}")
        if self.process and "process" in self.columns:
            raise ValueError("give either a constant `process` or a `process` column, not both")
        if self.shape == "status_history" and self.timestamp_marks is None:
            raise ValueError("a status_history source must declare timestamp_marks: entry or completion")
        roles = [set(self.terminal_statuses), set(self.cancelling_statuses), set(self.pausing_statuses)]
        if any(a & b for i, a in enumerate(roles) for b in roles[i + 1 :]):
            raise ValueError("a status can be only one of terminal, cancelling and pausing")
        if self.pausing_statuses and self.shape != "status_history":
            raise ValueError("pausing_statuses apply to status histories only")
        if self.kind == "sql" and not (self.connection and self.query):
            raise ValueError("a sql source needs connection.url_env and query")
        if self.kind == "http" and not (self.connection and self.endpoint):
            raise ValueError("an http source needs connection.url_env and endpoint")
        if self.kind == "file" and not (self.path or self.path_env):
            raise ValueError("a file source needs path (or path_env)")
        if self.kind == "sql" and "changed_at" not in self.columns:
            raise ValueError("a sql source must map changed_at: the column its partition query filters on")
        if self.freshness_checked:
            warn_after, error_after = self.effective_freshness  # raises on a malformed duration
            if warn_after > error_after:
                raise ValueError("freshness: warn_after must not be longer than error_after")
        return self

    @property
    def effective_quarantine_limit(self) -> float:
        return pipeline_settings().quarantine_limit if self.quarantine_limit is None else self.quarantine_limit

    @property
    def freshness_checked(self) -> bool:
        return self.freshness not in ("off", False)

    @property
    def effective_freshness(self) -> tuple[int, int]:
        """(warn_after, error_after) in seconds: the source's own, else config/pipeline.yaml's."""
        settings = pipeline_settings()
        own = self.freshness if isinstance(self.freshness, FreshnessConfig) else FreshnessConfig()
        return (
            parse_duration(own.warn_after or settings.freshness_warn_after),
            parse_duration(own.error_after or settings.freshness_error_after),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def connection_url(self) -> str:
        assert self.connection is not None
        url = os.environ.get(self.connection.url_env)
        if not url:
            raise SourceConfigError(f"source {self.name}: environment variable {self.connection.url_env} is not set")
        return url

    def connection_token(self) -> str | None:
        if self.connection and self.connection.token_env:
            return os.environ.get(self.connection.token_env) or None
        return None


def load_source(path: Path) -> SourceConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return SourceConfig.model_validate(raw)
    except (ValidationError, yaml.YAMLError) as exc:
        raise SourceConfigError(f"{path}: {exc}") from exc


def sources_dir() -> Path:
    return Path(os.environ.get("COMMITMENTS_SOURCES_DIR", CONFIG_DIR / "sources"))


@cache
def _load_all(directory: Path) -> tuple[SourceConfig, ...]:
    configs = tuple(load_source(p) for p in sorted(directory.glob("*.yaml")))
    names = [c.name for c in configs]
    if len(names) != len(set(names)):
        raise SourceConfigError(f"{directory}: duplicate source names {names}")
    return configs


def load_sources() -> tuple[SourceConfig, ...]:
    return _load_all(sources_dir())
