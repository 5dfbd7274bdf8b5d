"""The catalogue of timestamp shapes real exports use (tests/fixtures/timestamp_shapes): one help-desk-like
incident log per shape, the same five instants in each, landed on DuckDB and PostgreSQL. Each value parses
to its UTC instant row by row, or its row alone is quarantined as unparseable_timestamp; the batch never
fails for it. The done-means case: the help-desk log of March-April 2012 with per-row DST offsets gives
the same marts as the same instants delivered as naive UTC."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from orchestration.landing.batch import ensure_landing, extract, land
from orchestration.periods import Window
from orchestration.reference.catalogue import load_catalogue
from orchestration.sources.config import SourceConfig, SourceConfigError, load_source
from tests.conftest import isolated_pipeline, query, run_pipeline, settings_of_env, snapshot_marts, warehouse_of_env

FIXTURES = Path(__file__).parent / "fixtures" / "timestamp_shapes"
FIRST_DAY, LAST_DAY = date(2012, 3, 19), date(2012, 4, 3)

# A help-desk-like source, completion-marked, in Rome: what each shape declares on top of it.
DECLARATION = {
    "kind": "file",
    "time_zone": "Europe/Rome",
    "shape": "status_history",
    "timestamp_marks": "completion",
    "columns": {"work_order_id": "Case ID", "status": "Activity", "event_at": "Complete Timestamp",
                "segment": "service_level", "department": "workgroup"},
    "process": "HELPDESK",
    "nodes": {"HELPDESK": {"Insert ticket": "INSERT_TICKET", "Resolve ticket": "RESOLVE", "Closed": "CLOSE"}},
    "terminal_statuses": ["Closed"],
    "freshness": "off",
}  # fmt: skip
SHAPES = {
    "dst_offsets": {},  # ISO-8601 with the offset of the day: +01:00 in March, +02:00 from 25 March
    "utc_z": {},
    "naive_local": {},  # local time in the declared zone (Europe/Rome)
    "day_first": {"timestamp_format": ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M"]},  # with and without seconds
    "month_first": {"timestamp_format": "%m/%d/%Y %I:%M %p"},
    "epoch_seconds": {"timestamp_unit": "s"},
    "epoch_milliseconds": {"timestamp_unit": "ms"},
    "fractional_seconds": {"timestamp_format": "%Y/%m/%d %H:%M:%S.%f"},  # the help-desk export's own
    "minute_precision": {},
    "mixed_iso": {},  # Z, offsets with and without a colon, naive local, fractions: one file
}
# The five events of every file, in file order, and their instants in UTC, worked out by hand:
# 10:00 and 16:45 CET (+1) on 20 and 23 March, 23:30 CET on 24 March, then CEST (+2) from 25 March.
EVENTS = [("INC-1001", "Insert ticket"), ("INC-1001", "Resolve ticket"), ("INC-1002", "Insert ticket"),
          ("INC-1001", "Closed"), ("INC-1002", "Closed")]  # fmt: skip
UTC = ["2012-03-20 09:00:00", "2012-03-23 15:45:00", "2012-03-24 22:30:00", "2012-04-02 07:00:00",
       "2012-03-26 06:15:00"]  # fmt: skip
FRACTIONS = {  # what the files with sub-second values add to each instant
    "epoch_milliseconds": ["0", "0", "0.250", "0", "0.999"],
    "fractional_seconds": ["0.250", "0", "0.5", "0.123456", "0.999"],
}
# The last row of each file, which no declared format reads (and, in mixed_iso, a row without a value).
UNREADABLE = {
    "dst_offsets": ["2012-03-32T10:00:00+01:00"],
    "utc_z": ["2012-03-20T24:30:00Z"],
    "naive_local": ["20.03.2012 10:00"],
    "day_first": ["03/20/2012 10:00:00"],  # a month-first value in a day-first export
    "month_first": ["20/03/2012 10:00 AM"],
    "epoch_seconds": ["2012-03-20"],
    "epoch_milliseconds": ["n/a"],
    "fractional_seconds": ["2012/03/20 10:00:00"],  # the declared format wants the fraction
    "minute_precision": ["2012-03-20 10h00"],
    "mixed_iso": ["yesterday", ""],
}


def shape_source(shape: str) -> SourceConfig:
    raw = {**DECLARATION, "name": shape, "path": str(FIXTURES / f"{shape}.csv"), **SHAPES[shape]}
    return SourceConfig.model_validate(raw).with_defaults(settings_of_env())


def window() -> Window:
    return Window.for_days(FIRST_DAY, LAST_DAY, settings_of_env().business_time_zone)


@pytest.fixture(scope="module")
def landed(module_pipeline_env: Path) -> None:
    """Every shape's file extracted and landed once into the module's warehouse."""
    warehouse = warehouse_of_env()
    ensure_landing(warehouse)
    catalogue = load_catalogue(settings_of_env().processes_file)
    for shape in SHAPES:
        land(warehouse, extract(shape_source(shape), window(), catalogue), window())


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_timestamp_shape_lands_its_utc_instants(landed: None, shape: str) -> None:
    rows = query(
        "select work_order_id, status_code, event_at from {s}_landing.status_events "
        f"where source_system = '{shape}' order by event_seq"
    )
    got = [(r.work_order_id, r.status_code, pd.Timestamp(r.event_at)) for r in rows.itertuples()]
    seconds = FRACTIONS.get(shape, ["0"] * len(UTC))
    want = [
        (*event, pd.Timestamp(at) + pd.Timedelta(seconds=float(s)))
        for event, at, s in zip(EVENTS, UTC, seconds, strict=True)
    ]
    assert got == want


@pytest.mark.parametrize("shape", list(SHAPES))
def test_an_unreadable_value_quarantines_its_row_only(landed: None, shape: str) -> None:
    quarantine = query(
        f"select reason_code, reason_detail, raw_record from {{s}}_landing.quarantine where source_system = '{shape}'"
    )
    values = sorted(yaml.safe_load(raw)["Complete Timestamp"] or "" for raw in quarantine.raw_record)
    assert values == sorted(UNREADABLE[shape])
    assert set(quarantine.reason_code) == {"unparseable_timestamp"}
    cfg = shape_source(shape)
    shown = f"epoch {cfg.timestamp_unit}" if cfg.timestamp_unit else cfg.timestamp_formats[0]
    unreadable = quarantine[quarantine.reason_detail != "event_at is missing"]
    assert unreadable.reason_detail.str.contains(shown, regex=False).all(), unreadable.reason_detail
    log = query(
        "select sum(rows_received) as received, sum(rows_accepted) as accepted, sum(rows_quarantined) as bad "
        f"from {{s}}_landing.extraction_log where source_system = '{shape}'"
    ).iloc[0]
    n_bad = len(UNREADABLE[shape])
    assert (int(log.received), int(log.accepted), int(log.bad)) == (5 + n_bad, 5, n_bad)


def test_iso_values_with_and_without_offsets_mix_in_one_batch() -> None:
    """Unit level: each ISO-8601 spelling is told apart by whether it carries an offset, so one batch never
    mixes the two kinds in one pandas call (which raises "Mixed timezones detected" for the whole batch)."""
    from orchestration.landing.rules import _instants, _wall_clock

    values = {
        "2012-03-20": "2012-03-19 23:00:00",  # a date alone: local midnight in Rome
        "2012-03-20 10:00": "2012-03-20 09:00:00",
        "20120320T100000Z": "2012-03-20 10:00:00",  # basic format
        "20120320T100000+0100": "2012-03-20 09:00:00",
        "2012-03-20T10-05": "2012-03-20 15:00:00",  # hours-only offset
        "2012-03-20T10:00:00+1": "2012-03-20 09:00:00",  # one-digit hours
        "2012-03-20 10:00:00 +01:00": "2012-03-20 09:00:00",
        "2012-07-20T10:00:00.123456+02:00": "2012-07-20 08:00:00.123456",
        "2012-03-25 02:30": None,  # does not exist in Rome (clocks jump from 02:00 to 03:00)
    }
    cfg = SourceConfig.model_validate({**DECLARATION, "name": "iso", "path": "x.csv"})
    instant, unparseable, not_unique = _instants(pd.Series(list(values)), cfg)
    assert [None if pd.isna(t) else str(t) for t in instant] == list(values.values())
    assert not unparseable.any()
    assert not_unique.tolist() == [v is None for v in values.values()]
    # Should an offset ever slip past that test, pandas refuses the call: those values stay unread by
    # the format (then quarantined), and the batch goes on.
    slipped = _wall_clock(pd.Series(["2012-03-20 10:00", "2012-03-20T10:00:00+1"]), "ISO8601")
    assert slipped.isna().all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timestamp_format": "%d/%m/%Y", "timestamp_unit": "s"}, "either timestamp_format (text) or timestamp_unit"),
        ({"timestamp_format": []}, "timestamp_format lists no format"),
        ({"row_key_columns": ["Case ID", "Activity"],
          "columns": {**DECLARATION["columns"], "source_row_key": "Case ID"}},
         "either columns.source_row_key or row_key_columns"),
        ({"update_snapshots": True, "shape": "intervals", "columns": {"work_order_id": "Case ID", "node": "Activity",
          "start_at": "Complete Timestamp"}}, "update_snapshots applies to status histories only"),
    ],
    ids=["format_and_unit", "no_format", "two_row_keys", "snapshots_of_intervals"],
)  # fmt: skip
def test_a_contradictory_timestamp_or_key_declaration_is_refused_at_load(
    tmp_path: Path, extra: dict, message: str
) -> None:
    raw = {**DECLARATION, "name": "bad", "path": "x.csv", **extra}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SourceConfigError, match=re.escape(message)) as caught:
        load_source(path, settings_of_env())
    assert str(path) in str(caught.value)


# --- done means: per-row DST offsets give the marts of the same instants in UTC -------------------------

HELPDESK_LIKE = """\
name: helpdesk
kind: file
path: "{path}"
timestamp_format: {timestamp_format}
time_zone: {time_zone}
shape: status_history
timestamp_marks: completion
columns:
  work_order_id: Case ID
  status: Activity
  event_at: Complete Timestamp
  segment: service_level
  department: workgroup
process: HELPDESK
nodes:
  HELPDESK:
    Insert ticket: INSERT_TICKET
    Assign seriousness: ASSIGN_SERIOUSNESS
    Take in charge ticket: TAKE_IN_CHARGE
    Wait: WAIT
    Require upgrade: REQUIRE_UPGRADE
    Create SW anomaly: CREATE_SW_ANOMALY
    Resolve SW anomaly: RESOLVE_SW_ANOMALY
    Schedule intervention: SCHEDULE_INTERVENTION
    Resolve ticket: RESOLVE
    Closed: CLOSE
    VERIFIED: VERIFY
    RESOLVED: VERIFY
    INVALID: VERIFY
    DUPLICATE: VERIFY
terminal_statuses: [Closed]
quarantine_limit: 0.5
freshness: "off"
"""
# The 100 tickets of the real help-desk log (../shared/datasets/helpdesk) whose every event falls in
# March-April 2012, 92 of them across the switch to summer time on 25 March: once as ISO-8601 with the
# offset of each event's day, once as the same instants in naive UTC (the log's own format).
DELIVERIES = {
    "offsets": ("helpdesk_dst_offsets.csv", "ISO8601", "Europe/Rome"),
    "utc": ("helpdesk_utc.csv", '"%Y/%m/%d %H:%M:%S.%f"', "UTC"),
}


@pytest.fixture(scope="module")
def marts_by_delivery(tmp_path_factory: pytest.TempPathFactory, warehouse_target: str) -> Iterator[dict]:
    out = {}
    for delivery, (file, timestamp_format, zone) in DELIVERIES.items():
        with isolated_pipeline(tmp_path_factory.mktemp(delivery), warehouse_target) as root:
            declaration = HELPDESK_LIKE.format(path=FIXTURES / file, timestamp_format=timestamp_format, time_zone=zone)
            (root / "sources_config" / "helpdesk.yaml").write_text(declaration, encoding="utf-8")
            run_pipeline(date(2012, 3, 1), date(2012, 4, 30))
            runs = query("select * from {s}.fct_node_runs order by node_run_id")
            landed = query("select count(*) as n from {s}_landing.status_events").n.iloc[0]
            reasons = query("select reason_code from {s}_landing.quarantine").reason_code.value_counts().to_dict()
            out[delivery] = (snapshot_marts(), runs, int(landed), reasons)
    yield out


@pytest.mark.heavy
def test_dst_offsets_land_every_row_and_give_the_marts_of_utc(marts_by_delivery: dict) -> None:
    offsets_marts, offsets_runs, offsets_landed, offsets_quarantined = marts_by_delivery["offsets"]
    utc_marts, utc_runs, utc_landed, utc_quarantined = marts_by_delivery["utc"]
    # Every row landed: of the 427 events, only the log's own exact repeats (4 here) are quarantined,
    # as duplicates; no timestamp is rejected.
    assert offsets_quarantined == utc_quarantined == {"duplicate_row": 4}
    assert offsets_landed == utc_landed == 427 - 4
    assert len(offsets_runs) > 300
    pd.testing.assert_frame_equal(offsets_runs, utc_runs)
    for table, frame in utc_marts.items():
        assert len(frame) > 0, table
        pd.testing.assert_frame_equal(offsets_marts[table], frame, obj=table)
