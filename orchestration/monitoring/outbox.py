"""The alert outbox (<schema>_landing.alert_outbox): every alert recorded once, delivered once per channel.

Recording: the alerts an evaluation finds are inserted with `on conflict do nothing` on their delivery key
(alert = node run + level reached; delivery = alert + recipient + channel), so repeated and overlapping
evaluations record each delivery once. Delivering: a sender claims pending rows in one update (a row is
claimed by one sender only: PostgreSQL re-checks the row after the lock, DuckDB has one writer), sends,
and marks them delivered; a failure puts the row back with exponential backoff until max_attempts, then
`dead`. A claim older than claim_timeout belongs to a sender that died and is taken over.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from orchestration.landing.batch import ensure_landing
from orchestration.landing.tables import ALERT_OUTBOX
from orchestration.monitoring.channels import DeliveryError, send
from orchestration.monitoring.config import AlertConfig
from orchestration.monitoring.templates import (
    PROPOSALS_FILE,
    Message,
    digest,
    message,
    proposals_message,
    report_file_name,
    report_link,
    report_message,
)
from orchestration.reference.catalogue import WILDCARD
from orchestration.warehouse import Warehouse

TABLE = ALERT_OUTBOX.name
# What recording an alert writes; the claim and delivery columns are filled in later.
ALERT_COLUMNS = ALERT_OUTBOX.column_names[: ALERT_OUTBOX.column_names.index("next_attempt_at") + 1]


def ensure_outbox(warehouse: Warehouse) -> None:
    ensure_landing(warehouse)


# --------------------------------------------------------------------------------------------------
# Which alerts the open runs raise
# --------------------------------------------------------------------------------------------------


def _rule_columns(runs: pd.DataFrame, config: AlertConfig) -> pd.DataFrame:
    """Each run's rule (the most specific match; later rules win ties) as columns."""
    chosen = np.full(len(runs), -1)
    best = np.full(len(runs), -1)
    for i, rule in enumerate(config.rules):
        match = np.ones(len(runs), dtype=bool)
        for field, value in (("process_code", rule.process), ("node_code", rule.node), ("segment", rule.segment)):
            if value != WILDCARD:
                match &= (runs[field] == value).to_numpy()
        take = match & (rule.specificity >= best)
        chosen[take], best[take] = i, rule.specificity
    rules = config.rules
    pick = np.clip(chosen, 0, None)
    matched = chosen >= 0
    return pd.DataFrame(
        {
            "alert_acceptable": matched & np.array(["acceptable" in r.levels for r in rules])[pick],
            "alert_warning": matched & np.array(["warning" in r.levels for r in rules])[pick],
            "notice_share": np.where(matched, np.array([r.early_notice or np.nan for r in rules])[pick], np.nan),
            "escalate": matched & np.array([r.escalate for r in rules])[pick],
        },
        index=runs.index,
    )


def alerts_due(runs: pd.DataFrame, config: AlertConfig) -> pd.DataFrame:
    """The highest level each open run has reached, with its limit: one row per alert."""
    runs = runs.join(_rule_columns(runs, config))
    warning = (runs.band == "warning") & runs.alert_warning
    acceptable = runs.band.isin(["acceptable", "warning"]) & runs.alert_acceptable
    notice = runs.run_seconds >= runs.notice_share * runs.commitment_seconds
    level = np.select([warning, acceptable, notice], ["warning", "acceptable", "notice"], "")
    runs = runs.assign(level=level)[level != ""]
    limit = np.where(runs.level == "warning", runs.tolerance_seconds, runs.commitment_seconds)
    return runs.assign(limit_seconds=limit.astype("int64"), alert_key=runs.node_run_id + "|" + runs.level)


REPORT_LEVEL = "report"  # an outbox row of a monthly department report, not of a node run
PROPOSALS_LEVEL = "proposals"  # an outbox row of the monthly digest of proposed commitments


def _route(recipients: pd.DataFrame, config: AlertConfig, kind: str = "alerts") -> pd.DataFrame:
    """Recipients x channels: every matching route that carries this kind, else the default channels."""
    pieces = []
    for route in (r for r in config.routes if kind in r.kinds):
        match = np.ones(len(recipients), dtype=bool)
        if route.department != WILDCARD:
            match &= (recipients.recipient_department == route.department).to_numpy()
        if route.position != WILDCARD:
            match &= (recipients.recipient_position == route.position).to_numpy()
        for channel in route.channels:
            pieces.append(recipients[match].assign(channel=channel))
    routed = pd.concat(pieces) if pieces else recipients.iloc[:0].assign(channel="")
    unrouted = recipients[~recipients.index.isin(routed.index)]
    pieces = [routed, *(unrouted.assign(channel=c) for c in config.default)]
    return pd.concat(pieces).drop_duplicates(["alert_key", "recipient_kind", "channel"])


def deliveries(alerts: pd.DataFrame, config: AlertConfig) -> pd.DataFrame:
    """One row per (alert, recipient, channel). A warning escalated to the owning department is not sent
    twice to a channel that already gets it for the responsible department."""
    responsible = alerts.assign(
        recipient_kind="responsible", recipient_department=alerts.department, recipient_position=alerts.position
    )
    escalated = alerts[(alerts.level == "warning") & alerts.escalate]
    owner = escalated.assign(
        recipient_kind="owner", recipient_department=escalated.owner_department, recipient_position=WILDCARD
    )
    recipients = pd.concat([responsible, owner], ignore_index=True)
    routed = _route(recipients, config).drop_duplicates(["alert_key", "channel"], keep="first")
    return routed.assign(delivery_key=routed.alert_key + "|" + routed.recipient_kind + "|" + routed.channel)


def record(warehouse: Warehouse, config: AlertConfig, now: datetime, dagster_run_id: str | None) -> int:
    """Record the alerts the open runs of dbt's open_run_states raise; returns how many deliveries are new."""
    ensure_outbox(warehouse)
    shares = [r.early_notice for r in config.rules if r.early_notice]
    floor = min(shares) if shares else 1.0
    runs = warehouse.query(
        f"select * from {warehouse.schema_name}.open_run_states where commitment_seconds is not null "
        f"and (band in ('acceptable', 'warning') or run_seconds >= {floor} * commitment_seconds)"
    )
    if runs.empty:
        return 0
    rows = deliveries(alerts_due(runs, config), config)
    if rows.empty:
        return 0
    naive_now = pd.Timestamp(now).tz_convert(None) if pd.Timestamp(now).tzinfo else pd.Timestamp(now)
    rows = rows.assign(
        dagster_run_id=dagster_run_id, created_at=naive_now, status="pending", attempts=0, next_attempt_at=naive_now
    )
    rows = rows[ALERT_COLUMNS].astype({"visit": "int64", "attempts": "int64"})
    return warehouse.append(TABLE, rows.reset_index(drop=True), skip_existing=True)


def record_reports(
    warehouse: Warehouse, config: AlertConfig, reports: Mapping[date, Sequence[str]], now: datetime,
    dagster_run_id: str | None = None,
) -> int:  # fmt: skip
    """Record one delivery per department's monthly report and channel its routes name (kind `reports`), for
    every month of `reports` (month -> departments) at once; returns how many are new. The key is the
    department and month, so a rerun of the month sends nothing again: each department gets each month's
    report exactly once per channel."""
    pairs = [(month, department) for month, departments in reports.items() for department in departments]
    return _record_monthly(warehouse, config, pairs, now, dagster_run_id, REPORT_LEVEL, "reports")


def record_proposals(
    warehouse: Warehouse, config: AlertConfig, months: Sequence[date], now: datetime, dagster_run_id: str | None = None
) -> int:
    """Record each month's digest of proposed commitments once per channel of each route that carries
    `proposals` (the service-quality team's); unlike alerts and reports, no route means nobody gets it."""
    departments = sorted({r.department for r in config.routes if PROPOSALS_LEVEL in r.kinds})
    pairs = [(month, department) for month in months for department in departments]
    return _record_monthly(warehouse, config, pairs, now, dagster_run_id, PROPOSALS_LEVEL, "proposals")


def _record_monthly(
    warehouse: Warehouse, config: AlertConfig, pairs: list[tuple[date, str]], now: datetime,
    dagster_run_id: str | None, level: str, kind: str,
) -> int:  # fmt: skip
    """One delivery per (month, department) and channel, all the months in one insert."""
    ensure_outbox(warehouse)
    if not pairs:
        return 0
    departments = [department for _, department in pairs]
    keys = [f"{level}|{month:%Y-%m}|{department}" for month, department in pairs]
    recipients = pd.DataFrame(
        {"alert_key": keys, "recipient_kind": "department", "recipient_department": departments,
         "recipient_position": WILDCARD, "department": departments, "node_run_id": keys,
         "start_at": pd.to_datetime([month.replace(day=1) for month, _ in pairs])}
    )  # fmt: skip
    rows = _route(recipients, config, kind=kind).drop_duplicates(["alert_key", "channel"])
    naive_now = pd.Timestamp(_naive(now))
    rows = rows.assign(
        delivery_key=rows.alert_key + "|" + rows.channel, level=level, as_of=naive_now,
        dagster_run_id=dagster_run_id, created_at=naive_now, status="pending", attempts=0, next_attempt_at=naive_now,
    )  # fmt: skip
    rows = rows.reindex(columns=ALERT_COLUMNS).astype({"visit": "Int64", "attempts": "int64"})
    return warehouse.append(TABLE, rows.reset_index(drop=True), skip_existing=True)


# --------------------------------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------------------------------


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    dead: int = 0


def _naive(now: datetime) -> datetime:
    return pd.Timestamp(now).tz_convert(None).to_pydatetime() if now.tzinfo else now


def claim(warehouse: Warehouse, config: AlertConfig, now: datetime) -> tuple[str, pd.DataFrame]:
    """Claim every due delivery for one sender; returns (claim token, claimed rows)."""
    token = uuid.uuid4().hex
    qualified = f"{warehouse.landing_schema}.{TABLE}"
    at = _naive(now)
    stale = at - timedelta(seconds=config.delivery.claim_timeout)
    try:
        warehouse.execute(
            f"update {qualified} set status = 'sending', claimed_by = %s, claimed_at = %s, attempts = attempts + 1 "
            "where (status = 'pending' and next_attempt_at <= %s) or (status = 'sending' and claimed_at < %s)",
            [token, at, at, stale],
        )
    except Exception as exc:  # DuckDB: another thread of this process claimed the same rows first
        if "conflict" not in str(exc).lower():
            raise
    claimed = warehouse.query(f"select * from {qualified} where claimed_by = '{token}' and status = 'sending'")
    return token, claimed


def _settle(execute: Callable[..., Any], qualified: str, config: AlertConfig, token: str, keys: tuple[str, ...],
            now: datetime, error: str | None) -> None:  # fmt: skip
    marks = ", ".join(["%s"] * len(keys))
    at = _naive(now)
    if error is None:
        execute(
            f"update {qualified} set status = 'delivered', delivered_at = %s, last_error = null "
            f"where claimed_by = %s and status = 'sending' and delivery_key in ({marks})",
            [at, token, *keys],
        )
        return
    # attempts already counts this one; the backoff grows with it.
    d = config.delivery
    execute(
        f"update {qualified} set last_error = %s, "
        "status = case when attempts >= %s then 'dead' else 'pending' end, "
        "next_attempt_at = %s + interval '1 second' "
        "* cast(least(%s * power(2, greatest(attempts - 1, 0)), %s) as integer) "
        f"where claimed_by = %s and status = 'sending' and delivery_key in ({marks})",
        [error[:1000], d.max_attempts, at, d.backoff_initial, d.backoff_max, token, *keys],
    )


def _messages(claimed: pd.DataFrame, config: AlertConfig) -> list[tuple[str, Message]]:
    """(channel, message) per message to send: one per delivery, or one per department for digests.
    Deliveries to a channel no longer configured are left out (deliver() fails them)."""
    ui = config.evaluation.dagster_ui_url()
    out: list[tuple[str, Message]] = []
    reports = claimed.level.isin([REPORT_LEVEL, PROPOSALS_LEVEL])
    for row in claimed[reports].sort_values("delivery_key").to_dict("records"):
        channel = config.channels.get(row["channel"])
        if channel is not None:
            month = pd.Timestamp(row["start_at"]).strftime("%Y-%m")
            digest_of_proposals = row["level"] == PROPOSALS_LEVEL
            name = PROPOSALS_FILE if digest_of_proposals else report_file_name(row["recipient_department"])
            link = report_link(config.evaluation.reports_url(), month, name)
            templates = config.templates[channel.language]
            make = proposals_message if digest_of_proposals else report_message
            out.append((row["channel"], make(row, templates, link)))
    records = claimed[~reports].sort_values(["channel", "recipient_department", "created_at", "delivery_key"])
    for (name, _), group in records.groupby(["channel", "recipient_department"], sort=False, dropna=False):
        channel = config.channels.get(name)
        if channel is None:
            continue
        rows = group.to_dict("records")
        templates = config.templates[channel.language]
        if channel.digest:
            out.append((name, digest(rows, templates, channel.language, ui)))
        else:
            out += [(name, message(r, templates, channel.language, ui)) for r in rows]
    return out


def deliver(warehouse: Warehouse, config: AlertConfig, now: datetime) -> DeliveryReport:
    """Send every due delivery once; failures are retried by later calls."""
    ensure_outbox(warehouse)
    token, claimed = claim(warehouse, config, now)
    report = DeliveryReport()
    qualified = f"{warehouse.landing_schema}.{TABLE}"
    # Each delivery is marked as soon as it went out, each mark committed on its own (a sender killed
    # mid-way resends nothing it had marked), over one connection.
    with warehouse.statements() as execute:
        for name, msg in _messages(claimed, config):
            error = None
            try:
                send(config.channels[name], msg, config.delivery.timeout)
            except DeliveryError as exc:
                error = str(exc)
            _settle(execute, qualified, config, token, msg.keys, now, error)
            report.delivered += len(msg.keys) if error is None else 0
            report.failed += len(msg.keys) if error is not None else 0
        unconfigured = claimed[~claimed.channel.isin(list(config.channels))]
        if len(unconfigured):
            reason = "channel is not configured"
            _settle(execute, qualified, config, token, tuple(unconfigured.delivery_key), now, reason)
            report.failed += len(unconfigured)
    report.dead = int(
        warehouse.query(f"select count(*) as n from {warehouse.landing_schema}.{TABLE} where status = 'dead'").n.iloc[0]
    )
    return report
