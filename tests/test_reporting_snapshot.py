"""The read-only DuckDB snapshot (orchestration/reporting/snapshot.py) after each job: a copy of the previous
one with only what differs written into it, per period where a relation has periods, and always level with the
warehouse's marts and reporting views, their descriptions included. Over a small warehouse of one mart with
periods, one without and a view over both; the jobs themselves are in tests/test_reporting.py. PostgreSQL has
no snapshot (its readers use the BI role)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import isolated_pipeline, warehouse_of_env

PERIODS = 10


@pytest.fixture
def warehouse(pipeline_env: Path):
    """On DuckDB and PostgreSQL."""
    return _built()


@pytest.fixture
def duckdb_warehouse(tmp_path: Path):
    with isolated_pipeline(tmp_path, "duckdb"):
        yield _built()


def _built():
    w = warehouse_of_env()
    s = w.schema_name
    w.execute(f"create schema {s}; create schema {s}_reporting; create schema {s}_landing")
    w.execute(f"create table {s}.marts (period_id varchar, run int, state varchar)")
    w.execute(f"insert into {s}.marts select 'day:' || (p + 1), r, 'normal' "
              f"from generate_series(0, {PERIODS - 1}) as a(p), generate_series(0, 2) as b(r)")  # fmt: skip
    w.execute(f"create table {s}.dims (state varchar, label varchar)")
    w.execute(f"insert into {s}.dims values ('normal', '正常'), ('warning', '预警')")
    w.execute(f"create view {s}_reporting.rpt as select m.period_id, m.run, m.state, d.label from {s}.marts as m "
              f"join {s}.dims as d using (state)")  # fmt: skip
    w.execute(f"create table {s}_landing.raw (x int)")  # never in the snapshot
    if w.target == "duckdb":
        w.execute(f"comment on table {s}.marts is 'the mart'")
        w.execute(f"comment on view {s}_reporting.rpt is 'the view'")
        w.execute(f"comment on column {s}_reporting.rpt.label is 'the label'")
    return w


def _level(w, views: tuple[str, ...] = ()) -> None:
    """The snapshot holds exactly the warehouse's marts and views, rows and descriptions, and nothing else: the
    `views` named as views there (over its own copies, as a reader opening the file alone reads them), the
    others as tables."""
    import duckdb

    from orchestration.reporting.snapshot import snapshot_path

    s = w.schema_name
    relations = [f"{s}.marts", f"{s}.dims", f"{s}_reporting.rpt"]
    with duckdb.connect(w.duckdb_path, read_only=True) as conn:
        conn.execute(f"attach '{snapshot_path(w)}' as snap (read_only)")
        for r in relations:
            for a, b in ((r, f"snap.{r}"), (f"snap.{r}", r)):
                assert conn.execute(f"select count(*) from (from {a} except all from {b})").fetchone()[0] == 0, r
        # and the snapshot's own records, in a schema of their own
        tables = conn.execute("select schema_name || '.' || table_name, comment from duckdb_tables() "
                              "where database_name = 'snap' and schema_name <> '_snapshot'").fetchall()  # fmt: skip
        as_views = conn.execute("select schema_name || '.' || view_name, comment from duckdb_views() "
                                "where database_name = 'snap' and not internal").fetchall()  # fmt: skip
        label = conn.execute("select comment from duckdb_columns() where database_name = 'snap' "
                             "and table_name = 'rpt' and column_name = 'label'").fetchone()[0]  # fmt: skip
    assert sorted(t for t, _ in tables) == sorted(set(relations) - set(views))
    assert sorted(v for v, _ in as_views) == sorted(views)
    comments = dict(tables + as_views)
    assert comments[f"{s}.marts"] == "the mart" and comments[f"{s}_reporting.rpt"] == "the view"
    assert label == "the label"
    with duckdb.connect(str(snapshot_path(w)), read_only=True) as alone:  # as a reader opens it
        for r in relations:
            assert (
                alone.execute(f"select count(*) from {r}").fetchone()[0]
                == w.query(f"select count(*) as n from {r}").n[0]
            )
    assert not Path(f"{snapshot_path(w)}.wal").exists()


def test_only_what_changed_is_written(warehouse) -> None:
    from orchestration.reporting.snapshot import publish_snapshot

    w, s = warehouse, warehouse.schema_name
    written = publish_snapshot(w)
    if w.target == "postgres":
        assert written is None
        return
    assert written == {f"{s}.marts": 30, f"{s}.dims": 2, f"{s}_reporting.rpt": 30}  # no snapshot yet: all, and
    # never landing
    _level(w)
    assert publish_snapshot(w) == {}  # nothing changed
    _level(w)
    # a job rebuilds one period (delete+insert, as the period marts do): its rows, in the mart and the view
    w.execute(f"delete from {s}.marts where period_id = 'day:3'")
    w.execute(f"insert into {s}.marts values ('day:3', 0, 'warning'), ('day:3', 1, 'normal')")
    assert publish_snapshot(w) == {f"{s}.marts": 2, f"{s}_reporting.rpt": 2}
    _level(w)
    # the same rows with one value changed are a change too
    w.execute(f"update {s}.marts set run = 7 where period_id = 'day:5' and run = 2")
    assert publish_snapshot(w) == {f"{s}.marts": 3, f"{s}_reporting.rpt": 3}
    _level(w)
    # a relation without periods is copied whole; a change to most periods of one, too
    w.execute(f"update {s}.dims set label = 'normal' where state = 'normal'")
    assert publish_snapshot(w) == {f"{s}.dims": 2, f"{s}_reporting.rpt": 29}
    _level(w)
    # emptied, then filled again (as a view is before and after its marts exist)
    w.execute(f"create table {s}.dims_kept as select * from {s}.dims; delete from {s}.dims")
    assert publish_snapshot(w) == {f"{s}.dims": 0, f"{s}.dims_kept": 2, f"{s}_reporting.rpt": 0}
    w.execute(f"insert into {s}.dims select * from {s}.dims_kept; drop table {s}.dims_kept")
    assert publish_snapshot(w) == {f"{s}.dims": 2, f"{s}_reporting.rpt": 29}
    _level(w)


def test_new_columns_new_descriptions_and_removed_relations(duckdb_warehouse) -> None:
    from orchestration.reporting.snapshot import publish_snapshot

    w, s = duckdb_warehouse, duckdb_warehouse.schema_name
    publish_snapshot(w)
    w.execute(f"alter table {s}.marts add column note varchar")
    assert publish_snapshot(w) == {f"{s}.marts": 30}  # copied whole; the view names its columns: unchanged
    _level(w)
    w.execute(f"comment on table {s}.marts is 'the mart, described anew'")
    assert publish_snapshot(w) == {}  # no rows written, the description replaced
    assert _snapshot_tables(w)[f"{s}.marts"] == "the mart, described anew"
    w.execute(f"comment on table {s}.marts is 'the mart'")
    w.execute(f"drop view {s}_reporting.rpt")
    w.execute(f"create view {s}_reporting.rpt as select m.period_id, m.run, m.state, 'x' as label from {s}.marts as m")
    w.execute(f"comment on view {s}_reporting.rpt is 'the view'")
    w.execute(f"comment on column {s}_reporting.rpt.label is 'the label'")
    w.execute(f"drop table {s}.dims")
    w.execute(f"create table {s}.dims (state varchar, label varchar)")
    publish_snapshot(w)
    _level(w)
    w.execute(f"drop table {s}.dims")
    publish_snapshot(w)
    assert f"{s}.dims" not in _snapshot_tables(w) and f"{s}.marts" in _snapshot_tables(w)


def _snapshot_tables(w) -> dict[str, str | None]:
    import duckdb

    from orchestration.reporting.snapshot import snapshot_path

    with duckdb.connect(str(snapshot_path(w)), read_only=True) as conn:
        return dict(conn.execute("select schema_name || '.' || table_name, comment from duckdb_tables()").fetchall())


def test_a_reader_keeps_its_snapshot_and_the_next_one_opens_the_new_one(duckdb_warehouse) -> None:
    """The reader of the previous snapshot reads it undisturbed; a reader in another process opens the new one
    at once, complete, even while this process keeps the warehouse open (DuckDB would then keep the snapshot
    attached to it, locked, its last changes in its WAL, had the publish not detached it)."""
    import subprocess
    import sys

    import duckdb

    from orchestration.reporting.snapshot import publish_snapshot, snapshot_path

    w, s = duckdb_warehouse, duckdb_warehouse.schema_name
    publish_snapshot(w)
    reader = duckdb.connect(str(snapshot_path(w)), read_only=True)
    holder = duckdb.connect(w.duckdb_path)
    try:
        w.execute(f"delete from {s}.marts where period_id = 'day:1'")
        assert publish_snapshot(w) == {f"{s}.marts": 0, f"{s}_reporting.rpt": 0}
        assert reader.execute(f"select count(*) from {s}.marts").fetchone()[0] == 30
        count = (f"import duckdb; c = duckdb.connect({str(snapshot_path(w))!r}, read_only=True); "
                 f"print(c.execute('select count(*) from {s}.marts').fetchone()[0])")  # fmt: skip
        other = subprocess.run([sys.executable, "-c", count], capture_output=True, text=True, timeout=60)
        assert other.returncode == 0 and other.stdout.strip() == "27", other.stderr
    finally:
        reader.close()
        holder.close()
    _level(w)


def test_a_view_reading_only_the_snapshot_is_a_view_there(duckdb_warehouse) -> None:
    """Given what each view reads: a view that reads only relations the snapshot holds is a view there, over the
    snapshot's copies, written only when its definition changes and never read for a digest; one that reads
    something else (the landing tables) is copied as a table and compared like one; the live evaluation's
    publish of a mart leaves the view as it is."""
    import duckdb

    from orchestration.reporting import snapshot

    w, s = duckdb_warehouse, duckdb_warehouse.schema_name
    view, marts, dims = f"{s}_reporting.rpt", f"{s}.marts", f"{s}.dims"
    reads = {view: [marts, dims, f"{s}.marts_weekly"]}  # a grain not built yet: not read
    assert snapshot.publish_snapshot(w, reads=reads) == {marts: 30, dims: 2, view: 0}  # defined, no rows
    _level(w, views=(view,))
    assert snapshot.publish_snapshot(w, reads=reads) == {}
    # a job rebuilds one period: the mart's rows are written, and the view shows them through the copy
    w.execute(f"delete from {marts} where period_id = 'day:3'")
    w.execute(f"insert into {marts} values ('day:3', 0, 'warning'), ('day:3', 1, 'normal')")
    assert snapshot.publish_snapshot(w, reads=reads) == {marts: 2}
    _level(w, views=(view,))
    # it reads the snapshot's copies, not the warehouse: a change not yet published is not seen
    w.execute(f"delete from {marts} where period_id = 'day:5'")
    with duckdb.connect(str(snapshot.snapshot_path(w)), read_only=True) as reader:
        assert reader.execute(f"select count(*) from {view}").fetchone()[0] == 29
    assert snapshot.publish_snapshot(w, reads=reads) == {marts: 0}
    _level(w, views=(view,))
    # the view defined anew (dbt rebuilt it): defined anew there, its descriptions with it
    _define_view(w, f"select m.period_id, m.run, m.state, upper(d.label) as label from {marts} as m join {dims} "
                    "as d using (state)")  # fmt: skip
    assert snapshot.publish_snapshot(w, reads=reads) == {view: 0}
    _level(w, views=(view,))
    # reading the landing tables, which the snapshot does not hold: a table copy; a view again when it no longer does
    assert snapshot.publish_snapshot(w, reads={view: [*reads[view], f"{s}_landing.raw"]}) == {view: 26}
    _level(w)
    assert snapshot.publish_snapshot(w, reads=reads) == {view: 0}
    _level(w, views=(view,))
    # the live evaluation's publish (what it reads not known): the mart copied whole, the view left a view
    w.execute(f"update {marts} set run = 8 where period_id = 'day:4' and run = 0")
    assert snapshot.publish_snapshot(w, only=[marts, view]) == {marts: 26}
    _level(w, views=(view,))
    # written naming the warehouse's own database: DuckDB keeps it without, so the copy reads the snapshot's
    database = w.query("select current_database() as d").d[0]
    _define_view(w, f"select m.period_id, m.run, m.state, d.label from {database}.{marts} as m join {dims} as d "
                    "using (state)")  # fmt: skip
    assert snapshot.publish_snapshot(w, reads=reads) == {view: 0}
    _level(w, views=(view,))


def _define_view(w, select: str) -> None:
    """The reporting view defined anew, as dbt rebuilds it, with its descriptions."""
    view = f"{w.schema_name}_reporting.rpt"
    w.execute(f"create or replace view {view} as {select}")
    w.execute(f"comment on view {view} is 'the view'")
    w.execute(f"comment on column {view}.label is 'the label'")


def test_runs_without_periods_are_compared_by_the_day_they_started(duckdb_warehouse) -> None:
    """A table of runs without periods (fct_node_runs) is compared per day its runs started: a job that changes
    the runs of a few days has those days' rows written, not the whole history."""
    from orchestration.reporting.snapshot import publish_snapshot, snapshot_path

    w, s = duckdb_warehouse, duckdb_warehouse.schema_name
    runs = f"{s}.runs"
    w.execute(f"create table {runs} (run_id varchar, start_at timestamp, state varchar)")
    w.execute(f"insert into {runs} select 'r' || d || '-' || r, timestamp '2026-10-01 08:00' + d * interval 1 day, "
              f"'normal' from generate_series(0, {PERIODS - 1}) as a(d), generate_series(0, 2) as b(r)")  # fmt: skip
    assert publish_snapshot(w)[runs] == 3 * PERIODS
    w.execute(f"update {runs} set state = 'warning' where run_id = 'r2-0'")  # a run of one day closes
    assert publish_snapshot(w) == {runs: 3}
    # a run moved to another day changes both days; a run with no start, the whole table
    w.execute(f"update {runs} set start_at = start_at + interval 2 day where run_id = 'r4-1'")
    assert publish_snapshot(w) == {runs: 6}
    w.execute(f"insert into {runs} values ('new', null, 'normal')")
    assert publish_snapshot(w) == {runs: 3 * PERIODS + 1}
    import duckdb

    with duckdb.connect(str(snapshot_path(w)), read_only=True) as alone:
        copied = alone.execute(f"select * from {runs} order by run_id").fetchall()
    assert copied == [tuple(r) for r in w.execute(f"select * from {runs} order by run_id")]


def _dbt_build(w, relation: str, window: tuple[str, str] | None = None) -> None:
    """What dbt_project/macros/reporting/mart_writes.sql records around a build of a mart: before it, what the
    build may change (the periods starting in `window`, else the whole table); after it, a new write id."""
    start, end = (f"date '{window[0]}'", f"date '{window[1]}'") if window else ("null", "null")
    w.execute(
        f"create table if not exists {w.landing_schema}.mart_writes (relation varchar primary key, write_id varchar, "
        "base_write_id varchar, changed_whole boolean not null, changed_from date, changed_to date); "
        f"insert into {w.landing_schema}.mart_writes (relation, changed_whole, changed_from, changed_to) "
        f"values ('{relation}', {'false' if window else 'true'}, {start}, {end}) on conflict (relation) do update set "
        "changed_whole = mart_writes.changed_whole or excluded.changed_whole, "
        "changed_from = least(mart_writes.changed_from, excluded.changed_from), "
        "changed_to = greatest(mart_writes.changed_to, excluded.changed_to); "
        f"update {w.landing_schema}.mart_writes set write_id = cast(uuid() as varchar) where relation = '{relation}'"
    )


def test_a_mart_dbt_has_not_built_since_its_copy_is_not_read(duckdb_warehouse, monkeypatch) -> None:
    """A mart whose last build is the one its copy was levelled at is neither read nor written, so a job pays
    for the marts it wrote only. A relation without a recorded build (the view copied as a table here) is
    compared every time. A copy's digests are kept from when it was written: the copies are never read whole."""
    from orchestration.reporting import snapshot

    w, s = duckdb_warehouse, duckdb_warehouse.schema_name
    marts, dims, view = f"{s}.marts", f"{s}.dims", f"{s}_reporting.rpt"
    _dbt_build(w, marts)
    _dbt_build(w, dims)
    assert snapshot.publish_snapshot(w) == {marts: 30, dims: 2, view: 30}
    read: list[str] = []
    digests = snapshot._digests
    monkeypatch.setattr(snapshot, "_digests", lambda conn, r, key: read.append(r) or digests(conn, r, key))
    assert snapshot.publish_snapshot(w) == {}
    assert read == [view]  # the marts not read at all
    # a build of one mart (without period_start_date, so compared whole), the other still not read
    read.clear()
    w.execute(f"delete from {marts} where period_id = 'day:3'")
    w.execute(f"insert into {marts} values ('day:3', 0, 'warning'), ('day:3', 1, 'normal')")
    _dbt_build(w, marts, ("2026-10-03", "2026-10-04"))
    assert snapshot.publish_snapshot(w) == {marts: 2, view: 2}
    assert sorted(read) == sorted([marts, view])
    _level(w)
    read.clear()
    assert snapshot.publish_snapshot(w) == {}
    assert read == [view]
    # what the ids trust: marts are written by dbt. A change by hand is published with the mart's next build.
    w.execute(f"update {dims} set label = 'normal' where state = 'normal'")
    assert snapshot.publish_snapshot(w) == {view: 29}
    _dbt_build(w, dims)
    assert snapshot.publish_snapshot(w) == {dims: 2}
    _level(w)
    # a build that changed nothing: read, nothing written
    _dbt_build(w, marts)
    assert snapshot.publish_snapshot(w) == {}
    _level(w)


def test_a_period_mart_built_for_a_window_is_read_over_its_periods_only(duckdb_warehouse, monkeypatch) -> None:
    """A period mart built for a window (delete+insert of the periods that start in it) is compared over those
    periods only, until a publish has copied them: the mart read over them, its copy's digests as kept (the copy
    read only for a period whose digest is not kept); builds before a publish add their windows up. Compared
    whole: after a build of the whole table (a first build, a full refresh), and by a snapshot levelled at other
    builds than the range's base (one put back from before)."""
    import shutil

    import duckdb

    from orchestration.reporting import snapshot

    w, s = duckdb_warehouse, duckdb_warehouse.schema_name
    mart = f"{s}.rates"
    w.execute(f"create table {mart} as select 'day:' || p as period_id, date '2026-10-01' + cast(p as integer) "
              f"as period_start_date, r as run, 'normal' as state from generate_series(0, {PERIODS - 1}) as a(p), "
              "generate_series(0, 2) as b(r)")  # fmt: skip
    _dbt_build(w, mart)
    assert snapshot.publish_snapshot(w)[mart] == 3 * PERIODS
    read: list[str] = []
    digests = snapshot._digests
    monkeypatch.setattr(snapshot, "_digests", lambda conn, r, key: read.append(r) or digests(conn, r, key))

    def rebuild(day: int) -> None:
        w.execute(f"update {mart} set state = 'warning' where period_id = 'day:{day}'")
        _dbt_build(w, mart, (f"2026-10-{1 + day:02}", f"2026-10-{2 + day:02}"))

    def mart_read() -> list[str]:
        return [r for r in read if "rates" in r]

    def level() -> None:
        with duckdb.connect(w.duckdb_path, read_only=True) as conn:
            conn.execute(f"attach '{snapshot.snapshot_path(w)}' as snap (read_only)")
            for a, b in ((mart, f"snap.{mart}"), (f"snap.{mart}", mart)):
                assert conn.execute(f"select count(*) from (from {a} except all from {b})").fetchone()[0] == 0
        read.clear()

    rebuild(3)
    assert snapshot.publish_snapshot(w) == {mart: 3}
    # the mart read over the range; the copy's digests as kept
    assert mart_read() == [f"(select * from {mart} where period_start_date >= cast('2026-10-04' as date) and "
                           "period_start_date < cast('2026-10-05' as date))"]  # fmt: skip
    level()
    # the range emptied by the publish: the next one starts from the build the copy was levelled at
    ((write, base, whole, start),) = w.execute(
        f"select write_id, base_write_id, changed_whole, changed_from from {w.landing_schema}.mart_writes "
        f"where relation = '{mart}'"
    )
    assert (base, whole, start) == (write, False, None)
    # two builds before a publish: both windows compared, and the days between them
    rebuild(5)
    rebuild(8)
    assert snapshot.publish_snapshot(w) == {mart: 6}
    assert len(mart_read()) == 1 and all("'2026-10-06'" in r and "'2026-10-10'" in r for r in mart_read())
    level()
    # a copy's period in the range without a kept digest (a record that lost it): the copy is read over the range
    with duckdb.connect(str(snapshot.snapshot_path(w))) as conn:
        conn.execute(f"delete from {snapshot.DIGESTS_RECORD} where relation = '{mart}' and period = 'day:4'")
    rebuild(4)
    assert snapshot.publish_snapshot(w) == {mart: 3}
    assert mart_read() == [f"(select * from {p}{mart} where period_start_date >= cast('2026-10-05' as date) and "
                           "period_start_date < cast('2026-10-06' as date))" for p in ("", "snapshot.")]  # fmt: skip
    level()
    # a snapshot put back from before the last publish: levelled at another build than the range's base
    before = snapshot.snapshot_path(w).with_suffix(".before")
    shutil.copyfile(snapshot.snapshot_path(w), before)
    rebuild(1)
    assert snapshot.publish_snapshot(w) == {mart: 3}
    shutil.copyfile(before, snapshot.snapshot_path(w))
    read.clear()
    rebuild(2)
    assert snapshot.publish_snapshot(w) == {mart: 6}  # days 1 and 2, found by comparing the whole mart
    assert mart_read() == [mart]
    level()
    # a build of the whole table
    w.execute(f"update {mart} set run = run + 10 where period_id = 'day:9'")
    _dbt_build(w, mart)
    assert snapshot.publish_snapshot(w) == {mart: 3}
    assert mart_read() == [mart]
    level()
