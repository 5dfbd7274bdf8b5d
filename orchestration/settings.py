"""Settings: one object built once from a configuration directory and the environment, then passed.

This is the only module that reads the environment for settings. Everything else receives a `Settings`
(the Dagster definitions capture the one `build_defs` was given), so a test or a deployment changes the
pipeline by building another `Settings`, never by writing `os.environ` inside the process.

| environment variable            | what it sets                                    | default                      |
|---------------------------------|-------------------------------------------------|------------------------------|
| COMMITMENTS_CONFIG_DIR          | the configuration directory (see below)         | the repository's `config/`   |
| COMMITMENTS_DATA_DIR            | embedded warehouse, demo sources, GX Data Docs  | `./data` of the repository   |
| COMMITMENTS_SOURCES_DIR         | source declarations                             | `<config>/sources`           |
| COMMITMENTS_PROCESSES_FILE      | process catalogue                               | `<config>/processes.yaml`    |
| COMMITMENTS_FILE                | commitments                                     | `<config>/commitments.yaml`  |
| COMMITMENTS_CALENDARS_FILE      | business calendars                              | `<config>/calendars.yaml`    |
| ALERTS_FILE                     | live-monitoring rules and channels              | `<config>/alerts.yaml`       |
| COMMITMENTS_EXPECTATIONS_DIR    | Great Expectations suites                       | the repository's `expectations/` |
| BUSINESS_TIME_ZONE              | overrides `business_time_zone` of pipeline.yaml |                              |
| COMMITMENTS_GX_CHECKS           | overrides `great_expectations` of pipeline.yaml |                              |
| COMMITMENTS_PARTITIONS_START    | overrides `partitions_start` of pipeline.yaml   |                              |
| COMMITMENTS_GX_DOCS_URL         | where the GX Data Docs site is served over HTTP | none: file:// links          |

A configuration directory holds `pipeline.yaml`, `processes.yaml`, `commitments.yaml`, `calendars.yaml`,
`alerts.yaml` and `sources/*.yaml` (see `tests/fixtures/config_minimal` for the smallest one that loads).
Warehouse connections and source credentials are not settings: they come from the environment as
Dagster `EnvVar`s (orchestration/warehouse.py) or from the variables each source declares.

Everything is checked as it is read: a wrong value raises `ConfigError` naming the file and key of
pipeline.yaml (orchestration/config_files.py) or the environment variable to set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from orchestration.config_files import Duration, StrictModel, TimeZoneName, read_config, shown, time_zone
from orchestration.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
# The dbt installed beside this interpreter, so it works without an activated virtualenv; through the
# project's launcher, which stops dbt when the process that started it dies (orchestration/dbt_child.py).
# The jobs run dbt in their own process (orchestration/dbt_runner.py); what-if and the tools start this one.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "service-commitments-dbt")
_TRUE, _FALSE = ("1", "true", "on", "yes"), ("0", "false", "off", "no")


class _Freshness(StrictModel):
    warn_after: Duration = "26h"
    error_after: Duration = "4d"


class _Volume(StrictModel):
    lookback_days: int = Field(default=14, ge=1)
    min_history_days: int = Field(default=3, ge=1)
    warn_below: float = Field(default=0.2, ge=0, le=1)
    on_empty: Literal["warn", "error"] = "warn"


class PipelineFile(StrictModel):
    """The schema of pipeline.yaml (its comments say what each key means)."""

    business_time_zone: TimeZoneName = "UTC"
    history_start: date = date(2010, 1, 1)
    partitions_start: date | None = None
    quarantine_limit: float = Field(default=0.01, ge=0, le=1)
    clock_skew: Duration = "5min"
    freshness: _Freshness = _Freshness()
    volume: _Volume = _Volume()
    great_expectations: bool = True


@dataclass(frozen=True)
class Settings:
    config_dir: Path
    data_dir: Path
    sources_dir: Path
    processes_file: Path
    commitments_file: Path
    calendars_file: Path
    alerts_file: Path
    expectations_dir: Path
    business_time_zone: ZoneInfo
    history_start: date
    # Data quality: the quarantined share of a partition above which its checks block downstream,
    # and how far in the future a source's clock may run before a start counts as impossible.
    quarantine_limit: float = 0.01
    clock_skew: str = "5min"
    great_expectations: bool = True
    # Source freshness: a source whose newest delivery is older than this at the end of the run's window
    # warns, or fails and blocks downstream (orchestration/quality/freshness.py).
    freshness_warn_after: str = "26h"
    freshness_error_after: str = "4d"
    # Volume: a day whose rows received fall below `volume_warn_below` of the median of the source's
    # previous `volume_lookback_days` landed days warns; a day with none is `volume_on_empty` (warn or
    # error); judged once `volume_min_history_days` of them are landed (orchestration/quality/volume.py).
    volume_lookback_days: int = 14
    volume_min_history_days: int = 3
    volume_warn_below: float = 0.2
    volume_on_empty: str = "warn"
    dbt_project_dir: Path = DBT_PROJECT_DIR
    # The first day Dagster lists partitions for (schedules, backfills, the UI); unset = history_start.
    partitions_start: date | None = None
    # The HTTP address the Great Expectations Data Docs site is served at (orchestration/quality/gx.py).
    gx_docs_url: str = ""

    @property
    def first_partition(self) -> date:
        return self.partitions_start or self.history_start

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """From the configuration directory's pipeline.yaml and the environment (default: os.environ).
        Raises ConfigError naming the file and key, or the environment variable, of a wrong setting."""
        env = os.environ if environ is None else environ

        def path(variable: str, default: Path) -> Path:
            return Path(env.get(variable) or default).resolve()

        config_dir = path("COMMITMENTS_CONFIG_DIR", PROJECT_DIR / "config")
        if not config_dir.is_dir():
            raise ConfigError(
                f"COMMITMENTS_CONFIG_DIR: {shown(config_dir)} is not a directory; set COMMITMENTS_CONFIG_DIR to "
                "a configuration directory (pipeline.yaml, processes.yaml, commitments.yaml, sources/ ...)"
            )
        calendars = env.get("COMMITMENTS_CALENDARS_FILE")
        if calendars and not Path(calendars).is_file():  # optional in the directory, not when named
            raise ConfigError(
                f"COMMITMENTS_CALENDARS_FILE: {calendars} is not a file; set it to calendars.yaml, or unset it"
            )
        hint = "set COMMITMENTS_CONFIG_DIR to a configuration directory that holds one"
        _, raw = read_config(config_dir / "pipeline.yaml", PipelineFile, hint)
        return cls(
            config_dir=config_dir,
            data_dir=path("COMMITMENTS_DATA_DIR", PROJECT_DIR / "data"),
            sources_dir=path("COMMITMENTS_SOURCES_DIR", config_dir / "sources"),
            processes_file=path("COMMITMENTS_PROCESSES_FILE", config_dir / "processes.yaml"),
            commitments_file=path("COMMITMENTS_FILE", config_dir / "commitments.yaml"),
            calendars_file=path("COMMITMENTS_CALENDARS_FILE", config_dir / "calendars.yaml"),
            alerts_file=path("ALERTS_FILE", config_dir / "alerts.yaml"),
            expectations_dir=path("COMMITMENTS_EXPECTATIONS_DIR", PROJECT_DIR / "expectations"),
            business_time_zone=_zone_of(env, raw.business_time_zone),
            history_start=raw.history_start,
            partitions_start=_partitions_start(env, raw.partitions_start, raw.history_start),
            quarantine_limit=raw.quarantine_limit,
            clock_skew=raw.clock_skew,
            great_expectations=_flag(env, "COMMITMENTS_GX_CHECKS", raw.great_expectations),
            gx_docs_url=env.get("COMMITMENTS_GX_DOCS_URL", ""),
            freshness_warn_after=raw.freshness.warn_after,
            freshness_error_after=raw.freshness.error_after,
            volume_lookback_days=raw.volume.lookback_days,
            volume_min_history_days=raw.volume.min_history_days,
            volume_warn_below=raw.volume.warn_below,
            volume_on_empty=raw.volume.on_empty,
        )


def _zone_of(env: Mapping[str, str], configured: str) -> ZoneInfo:
    override = env.get("BUSINESS_TIME_ZONE")
    if not override:
        return ZoneInfo(configured)
    try:
        return time_zone(override)
    except ValueError as exc:
        raise ConfigError(
            f"BUSINESS_TIME_ZONE: {exc}; set BUSINESS_TIME_ZONE to one, or unset it to use "
            "business_time_zone of pipeline.yaml"
        ) from None


def _partitions_start(env: Mapping[str, str], configured: date | None, history_start: date) -> date | None:
    variable = "COMMITMENTS_PARTITIONS_START"
    chosen = configured
    if env.get(variable):
        try:
            chosen = date.fromisoformat(env[variable])
        except ValueError:
            raise ConfigError(f"{variable}={env[variable]!r} is not a date: set YYYY-MM-DD, or unset it") from None
    if chosen is not None and chosen < history_start:
        where = variable if env.get(variable) else "partitions_start of pipeline.yaml"
        raise ConfigError(f"{where} ({chosen}) is before history_start ({history_start}): no data exists before it")
    return chosen


def _flag(env: Mapping[str, str], variable: str, configured: bool) -> bool:
    value = env.get(variable, "").strip().lower()
    if not value:
        return configured
    if value not in _TRUE + _FALSE:
        raise ConfigError(
            f"{variable}={env[variable]!r} is neither true nor false; set {variable} to one of "
            f"{', '.join(_TRUE + _FALSE)}, or unset it"
        )
    return value in _TRUE
