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

A configuration directory holds `pipeline.yaml`, `processes.yaml`, `commitments.yaml`, `calendars.yaml`,
`alerts.yaml` and `sources/*.yaml` (see `tests/fixtures/config_minimal` for the smallest one that loads).
Warehouse connections and source credentials are not settings: they come from the environment as
Dagster `EnvVar`s (orchestration/warehouse.py) or from the variables each source declares.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
# The dbt installed beside this interpreter, so it works without an activated virtualenv.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
_FALSE = ("0", "false", "off", "no")


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

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """From the configuration directory's pipeline.yaml and the environment (default: os.environ)."""
        env = os.environ if environ is None else environ

        def path(variable: str, default: Path) -> Path:
            return Path(env.get(variable) or default).resolve()

        config_dir = path("COMMITMENTS_CONFIG_DIR", PROJECT_DIR / "config")
        raw = yaml.safe_load((config_dir / "pipeline.yaml").read_text(encoding="utf-8")) or {}
        freshness = raw.get("freshness") or {}
        volume = raw.get("volume") or {}
        gx_env = env.get("COMMITMENTS_GX_CHECKS", "").strip().lower()
        return cls(
            config_dir=config_dir,
            data_dir=path("COMMITMENTS_DATA_DIR", PROJECT_DIR / "data"),
            sources_dir=path("COMMITMENTS_SOURCES_DIR", config_dir / "sources"),
            processes_file=path("COMMITMENTS_PROCESSES_FILE", config_dir / "processes.yaml"),
            commitments_file=path("COMMITMENTS_FILE", config_dir / "commitments.yaml"),
            calendars_file=path("COMMITMENTS_CALENDARS_FILE", config_dir / "calendars.yaml"),
            alerts_file=path("ALERTS_FILE", config_dir / "alerts.yaml"),
            expectations_dir=path("COMMITMENTS_EXPECTATIONS_DIR", PROJECT_DIR / "expectations"),
            business_time_zone=ZoneInfo(env.get("BUSINESS_TIME_ZONE") or raw.get("business_time_zone") or "UTC"),
            history_start=date.fromisoformat(str(raw.get("history_start", "2010-01-01"))),
            quarantine_limit=float(raw.get("quarantine_limit", 0.01)),
            clock_skew=str(raw.get("clock_skew", "5min")),
            great_expectations=gx_env not in _FALSE if gx_env else bool(raw.get("great_expectations", True)),
            freshness_warn_after=str(freshness.get("warn_after", "26h")),
            freshness_error_after=str(freshness.get("error_after", "4d")),
            volume_lookback_days=int(volume.get("lookback_days", 14)),
            volume_min_history_days=int(volume.get("min_history_days", 3)),
            volume_warn_below=float(volume.get("warn_below", 0.2)),
            volume_on_empty=str(volume.get("on_empty", "warn")),
        )
