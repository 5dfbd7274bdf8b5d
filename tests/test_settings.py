"""Settings are one object built from a configuration directory and the environment, then passed: a
deployment points the same code at its own sources, processes and commitments (COMMITMENTS_CONFIG_DIR)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from orchestration.definitions import build_defs
from orchestration.monitoring.config import load_alert_config
from orchestration.reference.publish import reference_frames
from orchestration.settings import PROJECT_DIR, Settings
from orchestration.sources.config import load_sources

MINIMAL = Path(__file__).parent / "fixtures" / "config_minimal"


def test_a_configuration_directory_of_its_own_is_loaded_whole(tmp_path: Path) -> None:
    settings = Settings.load({"COMMITMENTS_CONFIG_DIR": str(MINIMAL), "COMMITMENTS_DATA_DIR": str(tmp_path)})
    assert settings.business_time_zone == ZoneInfo("Europe/Berlin")
    assert settings.sources_dir == MINIMAL / "sources" and settings.commitments_file == MINIMAL / "commitments.yaml"
    (repairs,) = load_sources(settings)
    assert repairs.path == f"{MINIMAL}/repairs.csv"  # {config_dir} resolved against the directory
    assert repairs.effective_quarantine_limit == 0.01  # the defaults of pipeline.yaml's schema
    frames = reference_frames(settings)
    assert list(frames["processes"].process_code) == ["REPAIR"]
    assert list(frames["commitments"].commitment_seconds) == [4 * 3600]
    # Day bounds drawn in Berlin: 2026-03-29 (DST starts) is a 23-hour day.
    periods = frames["business_periods"].set_index("period_id")
    day = periods.loc["day:2026-03-29"]
    assert (day.period_end - day.period_start).total_seconds() == 23 * 3600
    assert load_alert_config(settings).templates["en"].time_zone == "Europe/Berlin"
    defs = build_defs(settings)
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert "landing/repairs" in keys and "landing/settlement_files" not in keys


def test_the_environment_overrides_single_files_and_nothing_is_written_to_it(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("WAREHOUSE_DUCKDB_PATH", raising=False)
    monkeypatch.setenv("COMMITMENTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BUSINESS_TIME_ZONE", "UTC")
    monkeypatch.setenv("COMMITMENTS_GX_CHECKS", "off")
    before = dict(__import__("os").environ)
    settings = Settings.load()
    build_defs(settings)
    assert dict(__import__("os").environ) == before
    assert settings.config_dir == PROJECT_DIR / "config"
    assert settings.business_time_zone == ZoneInfo("UTC") and not settings.great_expectations
    assert settings.data_dir == tmp_path.resolve()
