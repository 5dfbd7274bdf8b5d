"""Settings are one object built from a configuration directory and the environment, then passed: a
deployment points the same code at its own sources, processes and commitments (COMMITMENTS_CONFIG_DIR)."""

from __future__ import annotations

import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orchestration.definitions import build_defs
from orchestration.errors import ConfigError
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


def test_a_wrong_environment_setting_names_the_variable_and_what_to_set(tmp_path: Path) -> None:
    def message(**environ: str) -> str:
        with pytest.raises(ConfigError) as caught:
            Settings.load({"COMMITMENTS_CONFIG_DIR": str(MINIMAL), **environ})
        return str(caught.value)

    assert message(BUSINESS_TIME_ZONE="Europe/Berln") == (
        "BUSINESS_TIME_ZONE: 'Europe/Berln' is not a time zone: use an IANA name such as Asia/Shanghai, Europe/Rome "
        "or UTC; set BUSINESS_TIME_ZONE to one, or unset it to use business_time_zone of pipeline.yaml"
    )
    # Before: anything but 0/false/off/no switched the checks on, a typo included.
    assert message(COMMITMENTS_GX_CHECKS="flase") == (
        "COMMITMENTS_GX_CHECKS='flase' is neither true nor false; set COMMITMENTS_GX_CHECKS to one of 1, true, on, "
        "yes, 0, false, off, no, or unset it"
    )
    assert message(COMMITMENTS_CONFIG_DIR=str(tmp_path / "etc")) == (
        f"COMMITMENTS_CONFIG_DIR: {tmp_path}/etc is not a directory; set COMMITMENTS_CONFIG_DIR to a configuration "
        "directory (pipeline.yaml, processes.yaml, commitments.yaml, sources/ ...)"
    )
    # calendars.yaml is optional in the directory, so a wrong path would have meant "no calendars" silently.
    assert message(COMMITMENTS_CALENDARS_FILE=str(tmp_path / "calendar.yaml")) == (
        f"COMMITMENTS_CALENDARS_FILE: {tmp_path}/calendar.yaml is not a file; set it to calendars.yaml, or unset it"
    )
    assert message(COMMITMENTS_CONFIG_DIR=str(tmp_path)) == (
        f"{tmp_path}/pipeline.yaml: no such file; set COMMITMENTS_CONFIG_DIR to a configuration directory that "
        "holds one"
    )


def test_pipeline_yaml_is_checked_key_by_key(tmp_path: Path) -> None:
    shutil.copytree(MINIMAL, tmp_path / "config")
    pipeline = tmp_path / "config" / "pipeline.yaml"
    pipeline.write_text(
        "business_time_zone: Europe/Berlin\nhistory_start: 2026-01-01\nquarantine_limit: 5\nclock_skew: soon\n"
        "freshness: {warn_after: 1d, eror_after: 2d}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        Settings.load({"COMMITMENTS_CONFIG_DIR": str(tmp_path / "config")})
    assert str(caught.value).splitlines() == [
        f"{pipeline}:3: quarantine_limit: Input should be less than or equal to 1 (got 5)",
        f"{pipeline}:4: clock_skew: 'soon' is not a duration like 30min, 4h or 3d",
        f"{pipeline}:5: freshness: unknown key 'eror_after': did you mean 'error_after'?",
    ]


def test_partitions_start_where_the_data_starts(tmp_path: Path) -> None:
    """The UI lists partitions from partitions_start (the demo's days, not thousands before them); unset, from
    history_start (the help-desk history); never before history_start, where no period exists."""
    from orchestration.periods import Partitions

    base = {"COMMITMENTS_CONFIG_DIR": str(PROJECT_DIR / "config"), "COMMITMENTS_DATA_DIR": str(tmp_path)}
    recent = Partitions.of(Settings.load(base | {"COMMITMENTS_PARTITIONS_START": "2026-09-01"}))
    assert recent.daily.get_first_partition_key() == "2026-09-01"
    assert recent.monthly.get_first_partition_key() == "2026-09-01"
    assert Partitions.of(Settings.load(base)).daily.get_first_partition_key() == "2010-01-01"
    for wrong, message in (("2009-12-31", "before history_start"), ("soon", "YYYY-MM-DD")):
        with pytest.raises(ConfigError, match=message) as caught:
            Settings.load(base | {"COMMITMENTS_PARTITIONS_START": wrong})
        assert "COMMITMENTS_PARTITIONS_START" in str(caught.value)
