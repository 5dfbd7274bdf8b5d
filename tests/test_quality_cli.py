"""The operator's command: list a partition's quarantined rows, and re-process the partition once the
source is fixed, without duplicating the rows accepted before."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd

from orchestration.quality import cli
from tests.conftest import query
from tests.test_bad_inputs import FIXTURES

DAY = dt.date(2026, 10, 24)


def test_list_then_reprocess_after_the_source_is_fixed(pipeline_env: Path, capsys) -> None:
    drops = pipeline_env / "drops"
    shutil.copytree(FIXTURES / "file" / "drops", drops)
    declaration = (FIXTURES / "file" / "source.yaml").read_text(encoding="utf-8")
    (pipeline_env / "sources_config" / "bad_file.yaml").write_text(declaration, encoding="utf-8")

    cli.main(["reprocess", "--source", "bad_file", "--partition", DAY.isoformat()])
    landed = query("select source_row_key from {s}_landing.interval_runs order by 1").source_row_key.tolist()
    assert landed == ["F001", "F002", "F003", "F004"]
    capsys.readouterr()
    cli.main(["list", "--source", "bad_file", "--partition", DAY.isoformat()])
    out = capsys.readouterr().out
    assert "11 quarantined rows of bad_file on 2026-10-24" in out
    assert "unknown_node" in out and "质检" in out

    # The source fixes its unknown activity code (质检 was meant to be 数据采集) and re-delivers the day.
    path = drops / f"jiesuan_{DAY:%Y%m%d}.csv"
    path.write_bytes(path.read_bytes().replace("质检".encode("gb18030"), "数据采集".encode("gb18030")))
    cli.main(["reprocess", "--source", "bad_file", "--partition", DAY.isoformat()])

    landed = query("select source_row_key from {s}_landing.interval_runs order by 1").source_row_key.tolist()
    assert landed == ["F001", "F002", "F003", "F004", "F105"]  # the fixed row, and no second copy of the others
    quarantine = query("select reason_code, raw_record from {s}_landing.quarantine")
    assert len(quarantine) == 10 and "unknown_node" not in set(quarantine.reason_code)
    assert not any(json.loads(r).get("记录编号") == "F105" for r in quarantine.raw_record if r.startswith("{"))
    summary = query("select * from {s}_landing.quality_summary")
    assert len(summary) == 1 and pd.to_datetime(summary.partition_date).dt.date.iloc[0] == DAY
    assert (int(summary.rows_received.iloc[0]), int(summary.rows_accepted.iloc[0])) == (15, 5)
