"""The what-if replay (orchestration/whatif.py) on hand-made runs, on DuckDB and on PostgreSQL: the published
marts and landing tables stay byte-identical, a changed commitment changes exactly the runs worked out by
hand, a bad candidate is rejected with its file:line, and proposals become a valid candidate file.

The runs are tests/test_classification.py's (business zone Asia/Shanghai: the day 2026-03-10 is
[2026-03-09T16:00Z, 2026-03-10T16:00Z)), judged by tests/fixtures/commitments_cases.yaml.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import (
    PG_ENV,
    PG_HOST,
    PG_PORT,
    deployed_instance,
    query,
    run_pipeline,
    settings_of_env,
    warehouse_of_env,
)

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

FIXTURES = Path(__file__).parent / "fixtures"
PUBLISHED_COMMITMENTS = FIXTURES / "commitments_cases.yaml"

# wo, node, segment, start, end, cancelled (UTC); the ACCEPT and DISPATCH runs of test_classification.py.
CASES = """\
wo,process,node,segment,dept,start,end,cancelled
AT_COMMITMENT,KDZJ,ACCEPT,公众,营业厅,2026-03-10T01:00:00,2026-03-10T02:00:00,
AT_TOLERANCE,KDZJ,ACCEPT,公众,营业厅,2026-03-10T01:00:00,2026-03-10T03:00:00,
OVER_TOLERANCE,KDZJ,ACCEPT,公众,营业厅,2026-03-10T01:00:00,2026-03-10T03:00:01,
ACROSS_BOUNDARY,KDZJ,ACCEPT,公众,营业厅,2026-03-10T15:30:00,2026-03-11T00:00:00,
CANCEL_AFTER,KDZJ,ACCEPT,公众,营业厅,2026-03-10T10:00:00,,2026-03-11T01:00:00
REWORK,KDZJ,ACCEPT,公众,营业厅,2026-03-10T01:00:00,2026-03-10T01:30:00,
REWORK,KDZJ,ACCEPT,公众,营业厅,2026-03-10T03:00:00,2026-03-10T04:30:00,
VIP_OWN,KDZJ,ACCEPT,VIP,营业厅,2026-03-10T01:00:00,2026-03-10T01:40:00,
GOV_FALLBACK,KDZJ,ACCEPT,政企,营业厅,2026-03-10T01:00:00,2026-03-10T01:40:00,
BEFORE_CHANGE,KDZJ,DISPATCH,公众,调度中心,2026-03-10T02:00:00,2026-03-10T03:30:00,
AFTER_CHANGE,KDZJ,DISPATCH,公众,调度中心,2026-03-10T05:00:00,2026-03-10T06:30:00,
"""

SOURCE = """\
name: cases
kind: file
path: "{data_dir}/cases.csv"
time_zone: UTC
shape: intervals
columns:
  work_order_id: wo
  process: process
  node: node
  segment: segment
  department: dept
  start_at: start
  end_at: end
  cancelled_at: cancelled
processes: {KDZJ: BROADBAND}
nodes:
  BROADBAND: {ACCEPT: ACCEPT, DISPATCH: DISPATCH, INSTALL: INSTALL}
"""

# The published file with three changes: ACCEPT * 1h/2h -> 2h/3h; DISPATCH's first version 1h/2h -> 2h/4h;
# a new ACCEPT line for 政企 (30min/1h), which had fallen back to *.
CANDIDATE = """\
commitments:
  - {process: BROADBAND, node: ACCEPT,   segment: "*", commitment: 2h,    tolerance: 3h, valid_from: 2026-01-01}
  - {process: BROADBAND, node: ACCEPT,   segment: VIP, commitment: 30min, tolerance: 1h, valid_from: 2026-01-01}
  - {process: BROADBAND, node: ACCEPT,   segment: 政企, commitment: 30min, tolerance: 1h, valid_from: 2026-01-01}
  - {process: BROADBAND, node: DISPATCH, segment: "*", commitment: 2h,    tolerance: 4h, valid_from: 2026-01-01, valid_to: "2026-03-10 12:00"}
  - {process: BROADBAND, node: DISPATCH, segment: "*", commitment: 2h,    tolerance: 4h, valid_from: "2026-03-10 12:00"}
  - {process: BROADBAND, node: "*",      segment: "*", commitment: 4d,    tolerance: 6d, valid_from: 2026-01-01}
"""  # noqa: E501

# Line 3: a tolerance shorter than its commitment.
BAD_CANDIDATE = """\
commitments:
  - {process: BROADBAND, node: ACCEPT,   segment: "*", commitment: 2h, tolerance: 3h, valid_from: 2026-01-01}
  - {process: BROADBAND, node: DISPATCH, segment: "*", commitment: 2h, tolerance: 1h, valid_from: 2026-01-01}
"""


def checksums(schemas: list[str]) -> dict[str, str]:
    """Every table of the schemas, its full contents in a stable order, as one SHA-256 per table."""
    warehouse = warehouse_of_env()
    listed = ", ".join(f"'{s}'" for s in schemas)
    tables = warehouse.query(
        f"select table_schema, table_name from information_schema.tables where table_schema in ({listed}) "
        "and table_type in ('BASE TABLE', 'VIEW')"
    )
    sums = {}
    for schema, table in tables.itertuples(index=False):
        frame = warehouse.query(f"select * from {schema}.{table}")
        frame = frame.astype(str).sort_values(list(frame.columns)).reset_index(drop=True)
        digest = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
        sums[f"{schema}.{table}"] = f"{len(frame)} rows {digest}"
    return sums


def _drop_whatif_schemas(schema: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_ENV["PGUSER"], dbname=PG_ENV["PGDATABASE"])
    conn.autocommit = True
    with conn.cursor() as cur:
        for suffix in ("_whatif", "_whatif_staging", "_whatif_landing"):
            cur.execute(f"drop schema if exists {schema}{suffix} cascade")
    conn.close()


@pytest.fixture(scope="module")
def replayed(module_pipeline_env: Path, warehouse_target: str) -> Iterator[dict]:
    """The pipeline over 2026-03-09..11, then whatif_job (the Dagster job) over those days under CANDIDATE."""

    from orchestration.definitions import build_defs

    root = module_pipeline_env
    (root / "cases.csv").write_text(CASES, encoding="utf-8")
    (root / "sources_config" / "cases.yaml").write_text(textwrap.dedent(SOURCE), encoding="utf-8")
    candidate = root / "candidate.yaml"
    candidate.write_text(CANDIDATE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COMMITMENTS_FILE", str(PUBLISHED_COMMITMENTS))
        run_pipeline(date(2026, 3, 9), date(2026, 3, 11))
        schema = warehouse_of_env().schema_name
        published = [schema, f"{schema}_landing"]
        before = checksums(published)
        config = {"candidate": str(candidate), "first": "2026-03-09", "last": "2026-03-11", "grain": "day"}
        with deployed_instance() as instance:
            result = (
                build_defs(settings_of_env())
                .get_job_def("whatif_job")
                .execute_in_process(run_config={"ops": {"whatif_replay": {"config": config}}}, instance=instance)
            )
        assert result.success
        try:
            yield {"before": before, "after": checksums(published), "schema": schema, "root": root,
                   "csv": Path(result.output_for_node("whatif_replay"))}  # fmt: skip
        finally:
            if warehouse_target == "postgres":
                _drop_whatif_schemas(schema)


def test_published_marts_and_landing_stay_byte_identical(replayed: dict) -> None:
    before, after = replayed["before"], replayed["after"]
    assert any(name.endswith(".node_run_states_daily") for name in before)
    assert any(name.endswith("_landing.commitments") for name in before)
    assert after == before


def test_changed_commitments_change_exactly_the_runs_worked_by_hand(replayed: dict) -> None:
    changes = query("select * from {s}_whatif.whatif_run_changes")
    got = {(r.period_id, r.work_order_id, int(r.visit)): (r.state_now, r.state_candidate) for r in changes.itertuples()}
    assert got == {
        # ACCEPT * 1h/2h -> 2h/3h
        ("day:2026-03-10", "AT_TOLERANCE", 1): ("completed_acceptable", "completed_normal"),  # 2h
        ("day:2026-03-10", "OVER_TOLERANCE", 1): ("completed_warning", "completed_acceptable"),  # 2h 0m 1s
        ("day:2026-03-10", "REWORK", 2): ("completed_acceptable", "completed_normal"),  # 1.5h
        # DISPATCH before 12:00 local 1h/2h -> 2h/4h
        ("day:2026-03-10", "BEFORE_CHANGE", 1): ("completed_acceptable", "completed_normal"),  # 1.5h
        # a 政企 line 30min/1h where * (then 1h/2h) applied
        ("day:2026-03-10", "GOV_FALLBACK", 1): ("completed_normal", "completed_acceptable"),  # 40 min
    }  # AT_COMMITMENT (1h), ACROSS_BOUNDARY (30 min open), CANCEL_AFTER (6h open, 3h tolerance), REWORK#1,
    # VIP_OWN (own line unchanged), AFTER_CHANGE, and every run of 03-09 and 03-11 keep their state
    gov = changes[changes.work_order_id == "GOV_FALLBACK"].iloc[0]
    assert gov.commitment_version_now.startswith("BROADBAND|ACCEPT|*|")
    assert gov.commitment_version_candidate.startswith("BROADBAND|ACCEPT|政企|")


def test_comparison_per_node_and_segment(replayed: dict) -> None:
    rows = query("select * from {s}_whatif.whatif_comparison where period_id = 'day:2026-03-10'")
    by_key = rows.set_index(["node_code", "segment"])
    accept = by_key.loc[("ACCEPT", "公众")]
    # 7 evaluated: AT_COMMITMENT, AT_TOLERANCE, OVER_TOLERANCE, ACROSS_BOUNDARY, CANCEL_AFTER (6h open), REWORK x2
    assert int(accept.evaluated_runs_now) == int(accept.evaluated_runs_candidate) == 7
    assert accept.achievement_rate_now == pytest.approx(3 / 7)  # AT_COMMITMENT, ACROSS_BOUNDARY, REWORK#1
    assert accept.achievement_rate_candidate == pytest.approx(5 / 7)  # + AT_TOLERANCE, REWORK#2
    assert int(accept.changed_runs) == 3
    assert accept.flag_change == "same" and pd.isna(accept.flag_now)
    dispatch = by_key.loc[("DISPATCH", "公众")]  # 1 of 2 normal now, 2 of 2 under the candidate
    assert (dispatch.achievement_rate_now, dispatch.achievement_rate_candidate) == (0.5, 1.0)
    assert (pd.isna(dispatch.flag_now), dispatch.flag_candidate, dispatch.flag_change) == (
        True, "raise_commitment", "appears"
    )  # fmt: skip
    node = by_key.loc[("ACCEPT", "*")]  # the whole node: 公众's 7, VIP_OWN and GOV_FALLBACK
    assert (int(node.evaluated_runs_now), int(node.changed_runs)) == (9, 4)
    assert (node.achievement_rate_now, node.achievement_rate_candidate) == (pytest.approx(4 / 9), pytest.approx(5 / 9))
    gov = by_key.loc[("ACCEPT", "政企")]
    assert (gov.flag_now, gov.flag_candidate, gov.flag_change) == ("raise_commitment", "improve_process", "replaced")
    vip = by_key.loc[("ACCEPT", "VIP")]  # 40 min against its own 30 min: acceptable both times
    assert (vip.flag_now, vip.flag_candidate, vip.flag_change, int(vip.changed_runs)) == (
        "improve_process", "improve_process", "same", 0
    )  # fmt: skip
    other_days = query("select * from {s}_whatif.whatif_comparison where period_id <> 'day:2026-03-10'")
    assert set(other_days.period_id) == {"day:2026-03-11"}  # no run was open on 03-09
    assert other_days.changed_runs.astype(int).sum() == 0
    assert (other_days.flag_change == "same").all()
    csv = pd.read_csv(replayed["csv"])
    assert len(csv) == len(query("select * from {s}_whatif.whatif_comparison"))
    assert replayed["csv"].parent == replayed["root"] / "whatif"


def test_a_bad_candidate_is_rejected_with_its_line_and_writes_nothing(replayed: dict) -> None:
    from commitments_cli.app import app

    bad = replayed["root"] / "bad_candidate.yaml"
    bad.write_text(BAD_CANDIDATE, encoding="utf-8")
    landed = query("select * from {s}_whatif_landing.commitments order by commitment_version_id")
    result = CliRunner().invoke(
        app, ["whatif", "--candidate", str(bad), "--from", "2026-03-09", "--to", "2026-03-11", "--grain", "day"],
        prog_name="commitments",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "bad_candidate.yaml:3:" in message
    assert "commitments[1]" in message and "tolerance 1h is shorter than commitment 2h" in message
    # the candidate of the replay is still the one published: nothing was written
    after = query("select * from {s}_whatif_landing.commitments order by commitment_version_id")
    pd.testing.assert_frame_equal(after, landed)
    assert len(after) == 6


def test_proposals_become_a_valid_candidate(replayed: dict) -> None:
    """`commitments propose` over a calibration mart with the columns it promises (made by hand here): a row
    per run segment, each naming the version that judged it."""
    from commitments_cli.app import app

    accept, vip = "BROADBAND|ACCEPT|*|2025-12-31T16:00:00", "BROADBAND|ACCEPT|VIP|2025-12-31T16:00:00"
    dispatch_old, dispatch_new = "BROADBAND|DISPATCH|*|2025-12-31T16:00:00", "BROADBAND|DISPATCH|*|2026-03-10T04:00:00"
    rows = [  # segment, month, version, proposed commitment, proposed tolerance
        ("公众", "2026-02-01", accept, 600, 1200),
        ("公众", "2026-03-01", accept, 5400, 9000),  # the latest month wins: 1.5h / 2.5h
        ("政企", "2026-03-01", accept, 900, 600),  # a tolerance below the commitment is raised to it
        ("(none)", "2026-03-01", accept, 300, 600),  # no segment: no line can say it
        ("VIP", "2026-02-01", vip, 1200, 2400),  # VIP's own version: its limits replaced
        ("VIP", "2026-03-01", vip, None, None),  # too few runs in March: February's proposal stands
        ("VIP", "2026-03-01", dispatch_old, 1800, 3600),  # DISPATCH has no VIP line: one is added
        ("公众", "2026-03-01", dispatch_new, 900, 3600),
    ]
    warehouse = warehouse_of_env()
    table = f"{warehouse.schema_name}.commitment_calibration_monthly"
    warehouse.execute(f"drop table if exists {table}")
    warehouse.execute(
        f"create table {table} (process_code varchar, node_code varchar, segment varchar, period_start_date date, "
        "commitment_version_id varchar, commitment_seconds bigint, tolerance_seconds bigint, "
        "proposed_commitment_seconds bigint, proposed_tolerance_seconds bigint)"
    )
    for segment, month, version, commitment, tolerance in rows:
        node = version.split("|")[1]
        warehouse.execute(
            f"insert into {table} values ('BROADBAND', %s, %s, cast(%s as date), %s, 3600, 7200, %s, %s)",
            [node, segment, month, version, commitment, tolerance],
        )
    out = replayed["root"] / "proposed.yaml"
    result = CliRunner().invoke(app, ["propose", "--out", str(out)], prog_name="commitments")
    assert result.exit_code == 0, result.output
    assert "1 version(s) changed, 4 segment line(s) added" in result.output and "(1 left out" in result.output
    entries = yaml.safe_load(out.read_text(encoding="utf-8"))["commitments"]
    got = [(e["node"], e["segment"], str(e["valid_from"]), str(e.get("valid_to")), e["commitment"], e["tolerance"])
           for e in entries]  # fmt: skip
    assert got == [
        ("ACCEPT", "*", "2026-01-01", "None", "1h", "2h"),  # kept: the fallback of segments without a proposal
        ("ACCEPT", "公众", "2026-01-01", "None", "1.5h", "2.5h"),
        ("ACCEPT", "政企", "2026-01-01", "None", "15min", "15min"),
        ("ACCEPT", "VIP", "2026-01-01", "None", "20min", "40min"),
        ("DISPATCH", "*", "2026-01-01", "2026-03-10 12:00", "1h", "2h"),
        ("DISPATCH", "VIP", "2026-01-01", "2026-03-10 12:00", "30min", "1h"),
        ("DISPATCH", "*", "2026-03-10 12:00", "None", "2h", "4h"),
        ("DISPATCH", "公众", "2026-03-10 12:00", "None", "15min", "1h"),
        ("*", "*", "2026-01-01", "None", "4d", "6d"),  # no proposal: kept
    ]


def test_console_table_shows_each_node_and_segment(replayed: dict) -> None:
    from rich.console import Console

    from commitments_cli.app import _comparison_table
    from orchestration.whatif import Replay

    frame = query("select * from {s}_whatif.whatif_comparison order by period_start_date, node_code, segment")
    result = Replay(f"{replayed['schema']}_whatif", date(2026, 3, 9), date(2026, 3, 12), frame, replayed["csv"])
    console = Console(width=200, record=True)
    console.print(_comparison_table(result))
    lines = console.export_text().splitlines()
    dispatch = next(line for line in lines if "2026-03-10" in line and "DISPATCH" in line and "公众" in line)
    assert [cell.strip() for cell in dispatch.strip("│ ").split("│")] == [
        "2026-03-10", "BROADBAND", "DISPATCH", "公众", "2", "50.0%", "100.0%", "1", "", "raise_commitment",
        "appears",
    ]  # fmt: skip


def test_whatif_job_config_schema() -> None:
    from orchestration.definitions import build_defs
    from tests.conftest import project_settings

    op = build_defs(project_settings()).resolve_job_def("whatif_job").graph.node_defs[0]
    fields = op.config_schema.config_type.fields
    assert {name: field.is_required for name, field in fields.items()} == {
        "candidate": True, "first": True, "last": True, "grain": False,
    }  # fmt: skip
    assert fields["grain"].default_value == "month"
