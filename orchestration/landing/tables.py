"""The landing tables, declared once: name, columns with their types, and the indexes PostgreSQL keeps.

The warehouse creates them from here, the normaliser orders its frames by `columns`, and every query
takes its table name from here (`LANDING_BY_SHAPE` for the table a source's shape lands in). dbt reads
the same tables as the `landing` source (dbt_project/models/staging/_landing__sources.yml).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LandingTable:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, SQL type)
    # Indexes that keep a daily partition's cost independent of the length of history on PostgreSQL.
    indexes: tuple[str, ...] = ()
    primary_key: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def ddl(self) -> str:
        key = [f"primary key ({', '.join(self.primary_key)})"] if self.primary_key else []
        return ", ".join([*(f"{name} {sql_type}" for name, sql_type in self.columns), *key])


_PARTITION = (("source_system", "varchar"), ("partition_date", "date"), ("extracted_at", "timestamp"))
_OWNER = (("segment", "varchar"), ("department", "varchar"), ("position", "varchar"))
_COUNTS = (("rows_received", "bigint"), ("rows_accepted", "bigint"), ("rows_quarantined", "bigint"))
# extracted_at: the live evaluation (orchestration/monitoring) finds the work orders it just landed by it.
_ROW_INDEXES = ("partition_date", "work_order_id", "extracted_at")
_SOURCE_PARTITION_INDEX = ("source_system, partition_date",)

INTERVAL_RUNS = LandingTable(
    "interval_runs",
    (
        *_PARTITION,
        ("source_row_key", "varchar"),
        ("work_order_id", "varchar"),
        ("process_code", "varchar"),
        ("node_code", "varchar"),
        *_OWNER,
        ("start_at", "timestamp"),
        ("end_at", "timestamp"),
        ("cancelled_at", "timestamp"),
    ),
    _ROW_INDEXES,
)
STATUS_EVENTS = LandingTable(
    "status_events",
    (
        *_PARTITION,
        ("source_row_key", "varchar"),
        # Delivery order: the row's position in its batch (file, pages, query result). Events of one work
        # order at one instant keep it (with partition_date and extracted_at: stg_landing__status_events).
        ("event_seq", "bigint"),
        ("work_order_id", "varchar"),
        ("process_code", "varchar"),
        ("node_code", "varchar"),
        ("status_code", "varchar"),
        ("event_role", "varchar"),
        ("timestamp_marks", "varchar"),
        ("update_snapshot", "boolean"),
        ("event_at", "timestamp"),
        *_OWNER,
    ),
    _ROW_INDEXES,
)
QUARANTINE = LandingTable(
    "quarantine",
    (*_PARTITION, ("reason_code", "varchar"), ("reason_detail", "varchar"), ("raw_record", "varchar")),
    _SOURCE_PARTITION_INDEX,
)
EXTRACTION_LOG = LandingTable("extraction_log", (*_PARTITION, *_COUNTS), _SOURCE_PARTITION_INDEX)
# The operator's data-quality view per source and partition (orchestration/quality/summary.py).
QUALITY_SUMMARY = LandingTable(
    "quality_summary",
    (
        ("source_system", "varchar"),
        ("partition_date", "date"),
        ("checked_at", "timestamp"),
        *_COUNTS,
        ("quarantined_share", "double precision"),
        ("quarantine_limit", "double precision"),
        ("quarantined_by_reason", "varchar"),
        ("checks_passed", "bigint"),
        ("checks_failed", "bigint"),
        ("failed_checks", "varchar"),
        ("blocking_failures", "varchar"),
    ),
    _SOURCE_PARTITION_INDEX,
)


# The live evaluation's bookkeeping (orchestration/monitoring): each source's cursor and last increment,
# the file drops already read, the landing instant whose work orders still wait for dbt, and the alerts.
SOURCE_CURSORS = LandingTable(
    "source_cursors",
    (("source_system", "varchar"), ("cursor_at", "timestamp"), ("evaluated_at", "timestamp"), *_COUNTS),
    primary_key=("source_system",),
)
PROCESSED_FILES = LandingTable(
    "processed_files",
    (("source_system", "varchar"), ("file_name", "varchar"), ("content_sha256", "varchar"), ("read_at", "timestamp")),
    primary_key=("source_system", "file_name", "content_sha256"),
)
UNBUILT_CHANGES = LandingTable("unbuilt_changes", (("since", "timestamp"),))
ALERT_OUTBOX = LandingTable(
    "alert_outbox",
    (
        ("delivery_key", "varchar"),
        ("alert_key", "varchar not null"),
        ("level", "varchar not null"),
        ("recipient_kind", "varchar not null"),
        ("recipient_department", "varchar"),
        ("recipient_position", "varchar"),
        ("channel", "varchar not null"),
        ("node_run_id", "varchar not null"),
        ("work_order_id", "varchar"),
        ("process_code", "varchar"),
        ("process_name", "varchar"),
        ("node_code", "varchar"),
        ("node_name", "varchar"),
        ("visit", "integer"),
        *_OWNER,
        ("start_at", "timestamp"),
        ("as_of", "timestamp"),
        ("run_seconds", "double precision"),
        ("limit_seconds", "bigint"),
        ("dagster_run_id", "varchar"),
        ("created_at", "timestamp"),
        ("status", "varchar not null"),
        ("attempts", "integer not null"),
        ("next_attempt_at", "timestamp"),
        ("claimed_by", "varchar"),
        ("claimed_at", "timestamp"),
        ("delivered_at", "timestamp"),
        ("last_error", "varchar"),
    ),
    ("status, next_attempt_at",),
    primary_key=("delivery_key",),
)

LANDING_TABLES = (INTERVAL_RUNS, STATUS_EVENTS, QUARANTINE, EXTRACTION_LOG, QUALITY_SUMMARY)
MONITORING_TABLES = (SOURCE_CURSORS, PROCESSED_FILES, UNBUILT_CHANGES, ALERT_OUTBOX)
LANDING_BY_SHAPE = {"intervals": INTERVAL_RUNS, "status_history": STATUS_EVENTS}
