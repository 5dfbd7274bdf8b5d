"""Source freshness, on DuckDB and PostgreSQL: a source system that stops delivering first warns, then
fails its blocking check and keeps its marts from updating, measured against the end of the run's window
(so a backfill of a past period is as fresh as its timely run was). The newest delivery is checked
against one computed from the source files themselves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance

from demo import generator as gen
from orchestration.landing.batch import ensure_landing, extract, land
from orchestration.periods import Window
from orchestration.quality.freshness import SOURCE_FRESHNESS, measure
from orchestration.sources.config import SourceConfig, SourceConfigError, load_source
from tests.conftest import deployed_instance, query, settings_of_env, use_source, warehouse_of_env

pytestmark = pytest.mark.heavy  # a whole pipeline per warehouse: scheduled first (conftest.py)

START = dt.date(2026, 10, 1)
NOW = dt.datetime(2026, 10, 12, 6, 0, tzinfo=dt.UTC)
LAST_DELIVERY = dt.date(2026, 10, 5)  # from the 6th on, the settlement system drops empty files
SOURCE = "settlement_files"
SHANGHAI, URUMQI = ZoneInfo("Asia/Shanghai"), ZoneInfo("Asia/Urumqi")
MARTS = [AssetKey("fct_node_runs"), AssetKey("node_run_states_daily"), AssetKey("achievement_rates_daily")]


def _run_daily(instance: DagsterInstance, first: dt.date, last: dt.date):
    from orchestration.definitions import build_defs

    tags = {"dagster/asset_partition_range_start": str(first), "dagster/asset_partition_range_end": str(last)}
    job = build_defs().resolve_job_def("daily_job")
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def _freshness(result):
    (check,) = [
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key == AssetKey(["landing", SOURCE]) and e.check_name == SOURCE_FRESHNESS
    ]
    return check


def _newest_in_files(drops: Path, last_day: dt.date, reference: dt.datetime) -> dt.datetime:
    """Independently of the warehouse: the newest start, end or cancellation in the drops up to
    `last_day` before `reference` (naive UTC), read from the files' Urumqi local times."""
    frames = [
        pd.read_csv(p, encoding="gb18030", dtype=str, keep_default_na=False)
        for p in sorted(drops.glob("jiesuan_*.csv"))
        if dt.datetime.strptime(p.stem.split("_")[1], "%Y%m%d").date() <= last_day
    ]
    frame = pd.concat(frames)
    instants = [
        pd.to_datetime(frame[c].replace("", None), format="%Y/%m/%d %H:%M:%S")
        .dt.tz_localize(URUMQI)
        .dt.tz_convert("UTC")
        .dt.tz_localize(None)
        for c in ("开始时间", "完成时间", "作废时间")
    ]
    every = pd.concat(instants).dropna()
    return every[every < reference].max().to_pydatetime()


def _end_of(day: dt.date) -> dt.datetime:
    """The day's end in the business zone, as naive UTC."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), SHANGHAI)
    return end.astimezone(dt.UTC).replace(tzinfo=None)


def _states() -> pd.DataFrame:
    return query("select * from {s}.node_run_states_daily order by period_node_run_id")


def test_a_stopped_feed_warns_then_blocks_its_marts(pipeline_env: Path) -> None:
    truth = gen.generate_truth(START, NOW, orders_per_day=40)
    drops = pipeline_env / "drops" / "settlement"
    gen.write_settlement_files(truth, drops, START, dt.date(2026, 10, 12))
    for path in drops.glob("jiesuan_*.csv"):
        if dt.datetime.strptime(path.stem.split("_")[1], "%Y%m%d").date() > LAST_DELIVERY:
            header = path.read_bytes().splitlines(keepends=True)[0]
            path.write_bytes(header)  # the export still runs, but the system behind it stopped
    use_source(pipeline_env, SOURCE)
    declaration = pipeline_env / "sources_config" / f"{SOURCE}.yaml"
    config = yaml.safe_load(declaration.read_text(encoding="utf-8"))
    config["freshness"] = {"warn_after": "26h", "error_after": "3d"}
    declaration.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    from orchestration.definitions import build_defs

    with deployed_instance() as instance:
        assert build_defs().resolve_job_def("reference_job").execute_in_process(instance=instance).success

        fresh = _run_daily(instance, dt.date(2026, 10, 4), LAST_DELIVERY)
        assert fresh.success
        check = _freshness(fresh)
        assert check.passed
        reference = _end_of(LAST_DELIVERY)
        assert check.metadata["reference_instant_utc"].value == f"{reference:%Y-%m-%d %H:%M:%S}"
        newest = _newest_in_files(drops, LAST_DELIVERY, reference)
        assert check.metadata["newest_delivery_utc"].value == f"{newest:%Y-%m-%d %H:%M:%S}"
        assert check.metadata["age_hours"].value == round((reference - newest).total_seconds() / 3600, 2) < 26

        # Two days of empty drops: older than warn_after, within error_after. The marts still publish.
        warned = _run_daily(instance, dt.date(2026, 10, 6), dt.date(2026, 10, 7))
        assert warned.success
        check = _freshness(warned)
        assert not check.passed and check.severity == AssetCheckSeverity.WARN
        assert check.metadata["newest_delivery_utc"].value == f"{newest:%Y-%m-%d %H:%M:%S}"
        assert 26 < check.metadata["age_hours"].value < 72
        before = _states()
        assert "day:2026-10-07" in set(before.period_id)

        # Past error_after: the check fails with ERROR severity, nothing downstream runs, the marts stay.
        blocked = _run_daily(instance, dt.date(2026, 10, 9), dt.date(2026, 10, 9))
        assert not blocked.success
        check = _freshness(blocked)
        assert not check.passed and check.severity == AssetCheckSeverity.ERROR
        assert check.metadata["age_hours"].value > 72
        materialized = {e.asset_key for e in blocked.get_asset_materialization_events()}
        assert AssetKey(["landing", SOURCE]) in materialized and not materialized & set(MARTS)
        pd.testing.assert_frame_equal(_states(), before)
        summary = query(
            "select * from {s}_landing.quality_summary where source_system = 'settlement_files' "
            "and partition_date = '2026-10-09'"
        )
        assert summary.blocking_failures.iloc[0] == SOURCE_FRESHNESS

        # Rerunning the past days today gives the verdict their timely run gave: measured against the window.
        again = _run_daily(instance, dt.date(2026, 10, 4), LAST_DELIVERY)
        assert again.success and _freshness(again).passed


EVENTS_SOURCE = """
name: fresh_events
kind: file
path: "{data_dir}/events.csv"
time_zone: Asia/Shanghai
shape: status_history
timestamp_marks: entry
columns: {work_order_id: order_no, status: status, event_at: at}
process: COMPLAINT
nodes: {COMPLAINT: {登记: REGISTER, 处理: HANDLE, 答复: REPLY}}
freshness: {warn_after: 1d, error_after: 2d}
"""


def test_a_status_history_is_as_fresh_as_its_newest_event_by_the_reference(pipeline_env: Path) -> None:
    """Events after the reference instant do not count (a rerun of a past day sees that day's freshness),
    and deliveries older than the lookback are not read at all (they would be stale anyway)."""
    events = pd.DataFrame(
        {
            "order_no": ["A", "A", "B", "B", "C"],
            "status": ["登记", "处理", "登记", "答复", "登记"],
            "at": ["2026-10-01 09:00:00", "2026-10-03 10:00:00", "2026-10-03 22:30:00", "2026-10-04 08:00:00",
                   "2026-10-09 12:00:00"],
        }
    )  # fmt: skip
    events.to_csv(pipeline_env / "events.csv", index=False)
    (pipeline_env / "sources_config" / "fresh_events.yaml").write_text(EVENTS_SOURCE, encoding="utf-8")
    cfg = load_source(pipeline_env / "sources_config" / "fresh_events.yaml", settings_of_env())
    from orchestration.reference.catalogue import load_catalogue

    warehouse = warehouse_of_env()
    ensure_landing(warehouse)
    window = Window.for_days(dt.date(2026, 10, 1), dt.date(2026, 10, 10), settings_of_env().business_time_zone)
    land(warehouse, extract(cfg, window, load_catalogue(settings_of_env().processes_file)), window)

    def newest(last_day: dt.date, reference_local: str) -> dt.datetime | None:
        reference = dt.datetime.fromisoformat(reference_local).replace(tzinfo=SHANGHAI)
        return measure(warehouse, cfg, last_day, reference.astimezone(dt.UTC).replace(tzinfo=None)).newest

    utc = dt.timedelta(hours=8)
    # The end of the 3rd: B's 22:30 event counts, the 4th's does not (a later partition).
    assert newest(dt.date(2026, 10, 3), "2026-10-04 00:00") == dt.datetime(2026, 10, 3, 22, 30) - utc
    # Mid-day on the 3rd (a run while the day is open): only what happened by then.
    assert newest(dt.date(2026, 10, 3), "2026-10-03 12:00") == dt.datetime(2026, 10, 3, 10, 0) - utc
    # The 8th: the lookback (error_after 2d + 1 day) reaches back to the 5th, which holds nothing.
    assert newest(dt.date(2026, 10, 8), "2026-10-09 00:00") is None
    assert newest(dt.date(2026, 10, 9), "2026-10-10 00:00") == dt.datetime(2026, 10, 9, 12, 0) - utc


@pytest.mark.parametrize(
    ("freshness", "message"),
    [
        ({"warn_after": "3d", "error_after": "1d"}, "warn_after must not be longer than error_after"),
        ({"warn_after": "soon"}, "is not a duration"),
        ({"stale_after": "1d"}, "stale_after"),
    ],
)
def test_freshness_thresholds_are_validated(tmp_path: Path, freshness: dict, message: str) -> None:
    raw = yaml.safe_load(EVENTS_SOURCE)
    path = tmp_path / "source.yaml"
    path.write_text(yaml.safe_dump({**raw, "freshness": freshness}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SourceConfigError, match=message):
        load_source(path, settings_of_env())


def test_thresholds_default_to_the_pipeline_and_can_be_switched_off() -> None:
    raw = yaml.safe_load(EVENTS_SOURCE)
    own = SourceConfig.model_validate(raw)
    assert own.effective_freshness == (86400, 2 * 86400)
    # A source without thresholds takes config/pipeline.yaml's when it is loaded with the settings.
    default = SourceConfig.model_validate({**raw, "freshness": None}).with_defaults(settings_of_env())
    assert default.freshness_checked and default.effective_freshness == (26 * 3600, 4 * 86400)
    assert not SourceConfig.model_validate({**raw, "freshness": "off"}).freshness_checked
    unquoted = yaml.safe_load(EVENTS_SOURCE.replace("freshness: {warn_after: 1d, error_after: 2d}", "freshness: off"))
    assert unquoted["freshness"] is False and not SourceConfig.model_validate(unquoted).freshness_checked
