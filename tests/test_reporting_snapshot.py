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


def _level(w) -> None:
    """The snapshot holds exactly the warehouse's marts and views, rows and descriptions, and nothing else."""
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
        label = conn.execute("select comment from duckdb_columns() where database_name = 'snap' "
                             "and table_name = 'rpt' and column_name = 'label'").fetchone()[0]  # fmt: skip
    assert sorted(t for t, _ in tables) == sorted(relations)
    assert dict(tables)[f"{s}.marts"] == "the mart" and dict(tables)[f"{s}_reporting.rpt"] == "the view"
    assert label == "the label"
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


def test_a_view_follows_what_it_reads(duckdb_warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given what each view reads and the fingerprint of the views' definition, a view is compared only in the
    periods its reads changed, not read at all when they did not change, and compared whole when a read
    changed whole, is not in the snapshot, or the views are not those the snapshot's copies were made with.
    The copies are not read for their digests: the snapshot keeps them, except for a copy made whole by the
    live evaluation."""
    from orchestration.reporting import snapshot

    w, s = duckdb_warehouse, duckdb_warehouse.schema_name
    view = f"{s}_reporting.rpt"
    compared: list[tuple[str, str]] = []  # (relation, the periods it was limited to)
    digests = snapshot._digests

    def spied(conn, relation: str, key, within: str = ""):
        compared.append((relation, within))
        return digests(conn, relation, key, within)

    monkeypatch.setattr(snapshot, "_digests", spied)

    def publish(reads: list[str], fingerprint: str | None = "views v1") -> tuple[dict[str, int] | None, set[str]]:
        compared.clear()
        written = snapshot.publish_snapshot(w, reads={view: reads}, views_fingerprint=fingerprint)
        _level(w)
        return written, {within for relation, within in compared if relation.endswith(view)}

    reads = [f"{s}.marts", f"{s}.dims"]
    assert publish(reads)[0] == {f"{s}.marts": 30, f"{s}.dims": 2, view: 30}  # the first: all
    assert publish(reads) == ({}, set())  # nothing it reads changed: the view is not read
    assert publish(reads) == ({}, set())  # the copies' digests now kept: only the marts are read
    assert compared and not any(relation.startswith("snapshot.") for relation, _ in compared)
    w.execute(f"delete from {s}.marts where period_id = 'day:3'")
    w.execute(f"insert into {s}.marts values ('day:3', 0, 'warning'), ('day:3', 1, 'normal')")
    assert publish(reads) == ({f"{s}.marts": 2, view: 2}, {"'day:3'"})  # compared in day:3 only
    w.execute(f"update {s}.dims set label = 'normal' where state = 'normal'")  # no periods: changed whole
    assert publish(reads) == ({f"{s}.dims": 2, view: 29}, {""})
    w.execute(f"update {s}.marts set run = 9 where period_id = 'day:4' and run = 0")
    assert publish([*reads, f"{s}_landing.raw"]) == ({f"{s}.marts": 3, view: 3}, {""})  # a read not in it
    w.execute(f"update {s}.marts set run = 8 where period_id = 'day:4' and run = 9")
    assert publish(reads, "views v2") == ({f"{s}.marts": 3, view: 3}, {""})  # views not of its copies
    assert publish(reads, "views v2") == ({}, set())  # and recorded with them
    snapshot.publish_snapshot(w, only=[f"{s}.marts", view])  # the live evaluation's whole copies
    assert publish(reads, "views v2") == ({}, set())
    assert f"snapshot.{s}.marts" in {relation for relation, _ in compared}  # read once for its digest
