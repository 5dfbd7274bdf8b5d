"""Commitments maintained by service-quality staff: an invalid file fails with a message naming the
offending entry, and valid versions land with UTC bounds drawn in the business time zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.reference.calendars import load_calendars, parse_duration
from orchestration.reference.catalogue import load_catalogue
from orchestration.reference.commitments import CommitmentError, load_commitments
from tests.conftest import settings_of_env


def entry(process: str = "BROADBAND", node: str = "ACCEPT", segment: str = "'*'", commitment: str = "1h",
          tolerance: str = "2h", valid: str = "valid_from: 2026-01-01") -> str:  # fmt: skip
    return (
        f"  - {{process: {process}, node: {node}, segment: {segment}, commitment: {commitment},"
        f" tolerance: {tolerance}, {valid}}}\n"
    )


def write(tmp_path: Path, lines: str) -> Path:
    path = tmp_path / "commitments.yaml"
    path.write_text("commitments:\n" + lines, encoding="utf-8")
    return path


def load(tmp_path: Path, lines: str, path: Path | None = None):
    settings = settings_of_env()
    calendars = load_calendars(settings.history_start, settings.calendars_file)
    commitments = path or write(tmp_path, lines)
    return load_commitments(
        commitments, load_catalogue(settings.processes_file), calendars, settings.business_time_zone
    )


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            entry(commitment="2h", tolerance="1h"),
            r"commitments\[0\] \(BROADBAND / ACCEPT / \*\): tolerance 1h is shorter",
        ),
        (
            entry(segment="VIP") + entry(segment="VIP", valid="valid_from: 2026-02-01, valid_to: 2026-03-01"),
            r"commitments\[1\] \(BROADBAND / ACCEPT / VIP\): overlaps commitments\[0\]",
        ),
        (entry(process="BROADBND"), r"commitments\[0\] .*unknown process 'BROADBND'"),
        (entry(node="INSTAL"), r"commitments\[0\] .*unknown node 'INSTAL' of process BROADBAND"),
        (entry(commitment="soon"), r"commitments\[0\] .*'soon' is not a duration"),
    ],
)
def test_invalid_commitments_name_the_entry(tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(CommitmentError, match=message):
        load(tmp_path, lines)


def test_versions_meeting_end_to_end_are_valid_and_in_utc(tmp_path: Path) -> None:
    frame = load(
        tmp_path,
        "  - {process: BROADBAND, node: ACCEPT, segment: '*', commitment: 30min, tolerance: 2h,"
        " valid_from: 2026-01-01, valid_to: '2026-03-10 12:00'}\n"
        "  - {process: BROADBAND, node: ACCEPT, segment: '*', commitment: 1h, tolerance: 2h,"
        " valid_from: '2026-03-10 12:00'}\n",
    ).sort_values("valid_from")
    assert list(frame.commitment_seconds) == [1800, 3600]
    # Asia/Shanghai is UTC+8: local noon is 04:00 UTC; the versions meet without overlapping.
    assert str(frame.valid_to.iloc[0]) == str(frame.valid_from.iloc[1]) == "2026-03-10 04:00:00"
    assert list(frame.department) == ["营业厅", "营业厅"]  # the node's owner from processes.yaml


def test_the_shipped_commitments_are_valid() -> None:
    assert len(load(Path(), "", settings_of_env().commitments_file)) > 10


@pytest.mark.parametrize(("text", "seconds"), [("30min", 1800), ("4h", 14400), ("3d", 259200), (90, 90)])
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds
