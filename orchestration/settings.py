"""Project paths and pipeline-wide settings, resolved once from config/pipeline.yaml and the environment."""

import os
import sys
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_DIR / "config"
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
# The dbt installed beside this interpreter, so it works without an activated virtualenv.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


def data_dir() -> Path:
    """Where the embedded warehouse, demo sources and file drops live (COMMITMENTS_DATA_DIR)."""
    return Path(os.environ.get("COMMITMENTS_DATA_DIR", PROJECT_DIR / "data")).resolve()


@dataclass(frozen=True)
class PipelineSettings:
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


@cache
def pipeline_settings() -> PipelineSettings:
    raw = yaml.safe_load((CONFIG_DIR / "pipeline.yaml").read_text(encoding="utf-8"))
    tz_name = os.environ.get("BUSINESS_TIME_ZONE") or raw["business_time_zone"]
    freshness = raw.get("freshness") or {}
    return PipelineSettings(
        business_time_zone=ZoneInfo(tz_name),
        history_start=date.fromisoformat(str(raw["history_start"])),
        quarantine_limit=float(raw.get("quarantine_limit", 0.01)),
        clock_skew=str(raw.get("clock_skew", "5min")),
        great_expectations=bool(raw.get("great_expectations", True)),
        freshness_warn_after=str(freshness.get("warn_after", "26h")),
        freshness_error_after=str(freshness.get("error_after", "4d")),
    )


def gx_checks_enabled() -> bool:
    """Great Expectations suites as asset checks: config/pipeline.yaml, overridden by COMMITMENTS_GX_CHECKS."""
    env = os.environ.get("COMMITMENTS_GX_CHECKS", "").strip().lower()
    if env:
        return env not in ("0", "false", "off", "no")
    return pipeline_settings().great_expectations
