"""The schema of a source-system declaration (config/sources/<name>.yaml).

A source system is configuration, not code: adding a fourth system of a known kind means adding a
YAML file here. Validation happens when the definitions load, so a broken file fails fast with the
file name and field in the message.
"""

from __future__ import annotations

import codecs
import os
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from orchestration.config_files import ConfigFile, Duration, StrictModel, TimeZoneName, read_yaml, shown
from orchestration.errors import ConfigError
from orchestration.reference.calendars import parse_duration
from orchestration.reference.catalogue import load_catalogue
from orchestration.secrets import secret_variable
from orchestration.settings import PROJECT_DIR, Settings

# Canonical fields a source column can be mapped onto, per shape.
INTERVAL_FIELDS = ("start_at", "end_at", "cancelled_at")
EVENT_FIELDS = ("status", "event_at")
COMMON_FIELDS = ("source_row_key", "work_order_id", "process", "node", "segment", "department", "position")


class SourceConfigError(ConfigError):
    pass


class Connection(StrictModel):
    url_env: str = Field(description="environment variable holding the URL (never the URL itself)")
    token_env: str | None = Field(default=None, description="environment variable holding a bearer token")


class SourceLimits(StrictModel):
    """How long a source may take: a run holds the one `warehouse` pool slot the live alerts need too, so a
    stuck system must fail its extraction, never hang it. Durations like 10s, 2min, 1h."""

    # Opening a connection: TCP and the protocol's handshake (a server that accepts and never answers).
    connect_timeout: str = "10s"
    # HTTP: the longest silence while an answer's next bytes are awaited.
    read_timeout: str = "60s"
    # HTTP: one page whole, however slowly its bytes trickle in.
    page_timeout: str = "5min"
    # SQL: the longest the query may run (also the socket read timeout where the driver has one).
    statement_timeout: str = "10min"
    # The whole extraction of a window, retries included.
    total_timeout: str = "30min"
    # HTTP: pages per extraction; a `next_page` that never becomes null stops here.
    max_pages: int = Field(default=10_000, ge=1)
    # HTTP: transient failures (connection, timeout, HTTP 429 and 5xx) retried with backoff, within total_timeout.
    retries: int = Field(default=3, ge=0, le=20)

    @model_validator(mode="after")
    def _durations(self) -> SourceLimits:
        for name in ("connect_timeout", "read_timeout", "page_timeout", "statement_timeout", "total_timeout"):
            if self.seconds(name) < 1:
                raise ValueError(f"limits.{name} must be at least 1s, got {getattr(self, name)!r}")
        return self

    def seconds(self, name: str) -> int:
        """A duration in whole seconds; raises ValueError on a malformed one."""
        return parse_duration(getattr(self, name))


class FreshnessConfig(StrictModel):
    warn_after: Duration | None = None
    error_after: Duration | None = None


class VolumeConfig(StrictModel):
    lookback_days: int | None = Field(default=None, ge=1)
    min_history_days: int | None = Field(default=None, ge=1)
    warn_below: float | None = Field(default=None, ge=0, le=1)
    on_empty: Literal["warn", "error"] | None = None


class SourceConfig(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: Literal["sql", "file", "http"]
    shape: Literal["intervals", "status_history"]
    time_zone: TimeZoneName
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
    # How the source writes instants (every time column alike). Text: strptime formats tried in order, row
    # by row (e.g. "%d/%m/%Y %H:%M" day-first, "%m/%d/%Y %I:%M %p" month-first); default ISO-8601, with
    # or without seconds, fractions, `Z` or a UTC offset that may differ per row (DST). A value without an
    # offset is local time in `time_zone`. Or epoch numbers: `timestamp_unit: s` or `ms` (UTC by definition).
    timestamp_format: str | list[str] | None = None
    timestamp_unit: Literal["s", "ms"] | None = None
    # A row key made of several source columns (an audit table's ticket and revision), instead of
    # one column mapped as `columns.source_row_key`.
    row_key_columns: list[str] = []
    # status history
    timestamp_marks: Literal["entry", "completion"] | None = None
    terminal_statuses: list[str] = []
    cancelling_statuses: list[str] = []
    # Statuses that stop the clock (waiting for the customer, for a vendor): they open no run; the work
    # order's runs open meanwhile go on, and the time in the pause is taken off their run time.
    pausing_statuses: list[str] = []
    # A row per save of the work order (an audit table), the status often unchanged: a save repeating the
    # status of the one before is no status change (SEMANTICS.md; dbt stg_landing__status_events).
    update_snapshots: bool = False
    # code mappings onto the catalogue
    process: str | None = None
    processes: dict[str, str] = {}
    nodes: dict[str, dict[str, str]] = {}
    segments: dict[str, str] | None = None
    # data quality (default: config/pipeline.yaml)
    quarantine_limit: float | None = Field(default=None, ge=0, le=1)
    clock_skew: Duration | None = None
    # warn_after / error_after override config/pipeline.yaml; `off` disables the check for this source.
    # (YAML reads an unquoted `off` as false: both mean off.)
    freshness: FreshnessConfig | Literal["off", False] | None = None
    # Connect, read and total deadlines of every call to the source system, and the HTTP page cap.
    limits: SourceLimits = SourceLimits()
    # Rows read, normalised and landed at a time: a long window streams through in batches of about this
    # many rows (SQL fetches, file blocks, HTTP pages gathered), so memory follows the batch, not the window.
    batch_rows: int = Field(default=200_000, ge=1)
    # A quarantined row keeps only the columns mapped above; `true` keeps every column as received (the
    # others may hold data the pipeline has no business storing, e.g. personal details).
    keep_raw_row: bool = False
    # lookback_days / min_history_days / warn_below / on_empty override config/pipeline.yaml; `off` disables it.
    volume: VolumeConfig | Literal["off", False] | None = None

    @model_validator(mode="after")
    def _check(self) -> SourceConfig:
        secret_variable(self.connection.token_env if self.connection else None)
        self._check_encoding()
        self._check_columns()
        self._check_statuses()
        self._check_kind()
        self._check_timestamps_and_keys()
        return self

    def _check_columns(self) -> None:
        allowed = set(COMMON_FIELDS) | {"changed_at"}
        allowed |= set(INTERVAL_FIELDS) if self.shape == "intervals" else set(EVENT_FIELDS)
        unknown = set(self.columns) - allowed
        if unknown:
            raise ValueError(f"columns maps unknown canonical fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        needed = {"work_order_id"} | ({"start_at", "node"} if self.shape == "intervals" else {"status", "event_at"})
        needed |= set() if self.process else {"process"}
        missing = needed - set(self.columns)
        if missing:
            raise ValueError(f"columns must map {sorted(missing)}")
        if self.process and "process" in self.columns:
            raise ValueError("give either a constant `process` or a `process` column, not both")

    def _check_encoding(self) -> None:
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(
                f"encoding {self.encoding!r} is not an encoding Python knows (e.g. utf-8, utf-8-sig, gb18030, "
                "cp1252, latin-1)"
            ) from None

    def _check_statuses(self) -> None:
        if self.shape == "status_history" and self.timestamp_marks is None:
            raise ValueError("a status_history source must declare timestamp_marks: entry or completion")
        roles = [set(self.terminal_statuses), set(self.cancelling_statuses), set(self.pausing_statuses)]
        if any(a & b for i, a in enumerate(roles) for b in roles[i + 1 :]):
            raise ValueError("a status can be only one of terminal, cancelling and pausing")
        if self.pausing_statuses and self.shape != "status_history":
            raise ValueError("pausing_statuses apply to status histories only")

    def _check_timestamps_and_keys(self) -> None:
        if self.timestamp_unit and self.timestamp_format:
            raise ValueError("give either timestamp_format (text) or timestamp_unit (epoch numbers), not both")
        if self.timestamp_format is not None and not self.timestamp_formats:
            raise ValueError("timestamp_format lists no format")
        if self.row_key_columns and "source_row_key" in self.columns:
            raise ValueError("give either columns.source_row_key or row_key_columns, not both")
        if self.update_snapshots and self.shape != "status_history":
            raise ValueError("update_snapshots applies to status histories only")

    def _check_kind(self) -> None:
        needs = {
            "sql": (self.connection and self.query, "a sql source needs connection.url_env and query"),
            "http": (self.connection and self.endpoint, "an http source needs connection.url_env and endpoint"),
            "file": (self.path or self.path_env, "a file source needs path (or path_env)"),
        }
        given, message = needs[self.kind]
        if not given:
            raise ValueError(message)
        if self.kind == "sql" and "changed_at" not in self.columns:
            raise ValueError("a sql source must map changed_at: the column its partition query filters on")

    def with_defaults(self, settings: Settings) -> SourceConfig:
        """The declaration with the pipeline's defaults filled in (config/pipeline.yaml) and the directories in
        `path` ({data_dir}, {config_dir}, {project_dir}) resolved; {date...} stays for each day's file."""
        own = self.freshness if isinstance(self.freshness, FreshnessConfig) else FreshnessConfig()
        freshness = (
            self.freshness
            if not self.freshness_checked
            else FreshnessConfig(
                warn_after=own.warn_after or settings.freshness_warn_after,
                error_after=own.error_after or settings.freshness_error_after,
            )
        )
        path = self.path
        for name, value in (("data_dir", settings.data_dir), ("config_dir", settings.config_dir),
                            ("project_dir", PROJECT_DIR)):  # fmt: skip
            path = path.replace("{" + name + "}", str(value)) if path else path
        problem = path_template_error(path) if path else None
        if problem:
            raise ValueError(f"source {self.name}: path {self.path!r}: {problem}")
        limit = self.quarantine_limit
        resolved = self.model_copy(
            update={
                "volume": self._volume_with_defaults(settings),
                "quarantine_limit": settings.quarantine_limit if limit is None else limit,
                "clock_skew": self.clock_skew or settings.clock_skew,
                "freshness": freshness,
                "path": path,
            }
        )
        if resolved.freshness_checked:
            warn_after, error_after = resolved.effective_freshness  # raises on a malformed duration
            if warn_after > error_after:
                raise ValueError("freshness: warn_after must not be longer than error_after")
        return resolved

    def _volume_with_defaults(self, settings: Settings) -> VolumeConfig | Literal["off", False]:
        if self.volume in ("off", False):
            return self.volume  # type: ignore[return-value]
        own = self.volume if isinstance(self.volume, VolumeConfig) else VolumeConfig()
        defaults = {
            "lookback_days": settings.volume_lookback_days,
            "min_history_days": settings.volume_min_history_days,
            "warn_below": settings.volume_warn_below,
            "on_empty": settings.volume_on_empty,
        }
        # Validated again: the pipeline-wide defaults come from config/pipeline.yaml.
        return VolumeConfig.model_validate({k: v if getattr(own, k) is None else getattr(own, k)
                                            for k, v in defaults.items()})  # fmt: skip

    @property
    def volume_checked(self) -> bool:
        return self.volume not in ("off", False)

    @property
    def effective_volume(self) -> VolumeConfig:
        assert isinstance(self.volume, VolumeConfig) and self.volume.lookback_days, "with_defaults() fills it in"
        return self.volume

    @property
    def effective_quarantine_limit(self) -> float:
        assert self.quarantine_limit is not None, "with_defaults() fills it in"
        return self.quarantine_limit

    @property
    def freshness_checked(self) -> bool:
        return self.freshness not in ("off", False)

    @property
    def effective_freshness(self) -> tuple[int, int]:
        """(warn_after, error_after) in seconds, as resolved by with_defaults()."""
        assert isinstance(self.freshness, FreshnessConfig) and self.freshness.warn_after and self.freshness.error_after
        return parse_duration(self.freshness.warn_after), parse_duration(self.freshness.error_after)

    @property
    def timestamp_formats(self) -> list[str]:
        """The text formats to try, in order ("ISO8601" when none is declared)."""
        if isinstance(self.timestamp_format, str):
            return [self.timestamp_format]
        return list(self.timestamp_format) if self.timestamp_format is not None else ["ISO8601"]

    @property
    def source_columns(self) -> list[str]:
        """Every source column the declaration reads: the mapped ones and the parts of the row key."""
        return list(dict.fromkeys([*self.columns.values(), *self.row_key_columns]))

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


def path_template_error(template: str) -> str | None:
    """Why a file path pattern cannot name a day's file, or None. After the directories are filled in,
    `{date}` (with a strftime format, `{date:%Y%m%d}`) is the only placeholder left."""
    try:
        template.format(date=date(2000, 1, 31))
    except KeyError as exc:
        return (
            f"unknown placeholder {{{exc.args[0]}}}; a path may use {{date:<strftime format>}}, {{data_dir}}, "
            "{config_dir} and {project_dir}"
        )
    except (IndexError, ValueError, AttributeError) as exc:
        return f"malformed placeholder ({exc}); write e.g. {{date:%Y%m%d}}, and double a literal brace ({{{{ }}}})"
    return None


def load_source(path: Path, settings: Settings) -> SourceConfig:
    """One declaration, validated, with the pipeline's defaults; raises SourceConfigError naming the file,
    line and key."""
    try:
        file = read_yaml(path)
        cfg = file.validate(SourceConfig)
        _check_segments(file, cfg, settings)
        try:
            return cfg.with_defaults(settings)
        except ValueError as exc:
            raise file.error(("freshness",), str(exc)) from None
    except ConfigError as exc:
        raise SourceConfigError(str(exc)) from None


def _check_segments(file: ConfigFile, cfg: SourceConfig, settings: Settings) -> None:
    """A source's segment codes map onto segments of the catalogue: a misspelt one would judge its runs by
    the default commitment."""
    if not cfg.segments:
        return
    known = load_catalogue(settings.processes_file).segments
    for code, segment in cfg.segments.items():
        if segment not in known:
            raise file.error(
                ("segments", code),
                f"maps {code!r} onto {segment!r}, which is not a segment of {settings.processes_file.name} "
                f"(segments: {', '.join(known) or 'none declared'})",
            )


@cache
def _load_all(directory: Path, settings: Settings) -> tuple[SourceConfig, ...]:
    if not directory.is_dir():
        raise SourceConfigError(
            f"{shown(directory)}: no such directory; set COMMITMENTS_SOURCES_DIR, or put sources/ in the "
            "configuration directory (COMMITMENTS_CONFIG_DIR)"
        )
    configs = tuple(load_source(p, settings) for p in sorted(directory.glob("*.yaml")))
    names = [c.name for c in configs]
    if len(names) != len(set(names)):
        raise SourceConfigError(f"{shown(directory)}: duplicate source names {names}")
    return configs


def load_sources(settings: Settings) -> tuple[SourceConfig, ...]:
    """Every declaration in the settings' sources directory, validated, with defaults filled in."""
    return _load_all(settings.sources_dir, settings)
