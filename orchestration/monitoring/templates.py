"""Alert messages from the templates of config/alerts.yaml, in the channel's language."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any
from urllib.parse import quote

import pandas as pd

from orchestration.monitoring.config import Templates

_UNITS = {"zh": ("天", "小时", "分钟"), "en": ("d", "h", "min")}


@dataclass(frozen=True)
class Message:
    """One message to send: `keys` are the outbox deliveries it carries (several for a digest)."""

    keys: tuple[str, ...]
    subject: str
    body: str
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def idempotency_key(self) -> str:
        return self.keys[0] if len(self.keys) == 1 else "digest:" + ",".join(sorted(self.keys))


def human_duration(seconds: float, language: str) -> str:
    """1d 3h 20min / 1天3小时20分钟, to the minute."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    d, h, m = _UNITS.get(language, _UNITS["en"])
    sep = "" if language == "zh" else " "
    parts = [
        f"{days}{d}" if days else "",
        f"{hours}{h}" if hours else "",
        f"{minutes}{m}" if minutes or not (days or hours) else "",
    ]
    return sep.join(p for p in parts if p)


def _local(moment: Any, time_zone: str) -> str:
    return pd.Timestamp(moment).tz_localize(UTC).tz_convert(time_zone).strftime("%Y-%m-%d %H:%M")


def fields(row: dict[str, Any], templates: Templates, language: str, ui_url: str) -> dict[str, Any]:
    level = row["level"]
    run_link = f"{ui_url}/runs/{row['dagster_run_id']}" if row.get("dagster_run_id") else f"{ui_url}/runs"
    return {
        **{k: ("" if v is None or (isinstance(v, float) and pd.isna(v)) else v) for k, v in row.items()},
        "level_name": templates.levels[level],
        "limit_name": templates.limits[level],
        "run_time": human_duration(float(row["run_seconds"]), language),
        "limit": human_duration(float(row["limit_seconds"]), language),
        "started_at": _local(row["start_at"], templates.time_zone),
        "as_of": _local(row["as_of"], templates.time_zone),
        "link": run_link,
        "recipient": row["recipient_department"],
        "escalation": templates.escalation if row["recipient_kind"] == "owner" else "",
    }


def _alert_record(row: dict[str, Any]) -> dict[str, Any]:
    keep = ("delivery_key", "alert_key", "level", "work_order_id", "process_code", "node_code", "visit", "segment",
            "department", "position", "recipient_department", "run_seconds", "limit_seconds")  # fmt: skip
    out = {k: row[k] for k in keep}
    out["start_at"] = pd.Timestamp(row["start_at"]).isoformat() + "Z"
    out["as_of"] = pd.Timestamp(row["as_of"]).isoformat() + "Z"
    return out


def message(row: dict[str, Any], templates: Templates, language: str, ui_url: str) -> Message:
    values = fields(row, templates, language, ui_url)
    return Message(
        (row["delivery_key"],),
        templates.subject.format(**values),
        templates.body.format(**values),
        [{**_alert_record(row), "link": values["link"]}],
    )


def digest(rows: list[dict[str, Any]], templates: Templates, language: str, ui_url: str) -> Message:
    """One message for a department's alerts of one evaluation."""
    items = [fields(r, templates, language, ui_url) for r in rows]
    summary = {"count": len(rows), "recipient": rows[0]["recipient_department"]}
    lines = "\n".join(templates.digest_item.format(**v) for v in items)
    return Message(
        tuple(r["delivery_key"] for r in rows),
        templates.digest_subject.format(**summary),
        templates.digest_body.format(**summary, items=lines),
        [{**_alert_record(r), "link": v["link"]} for r, v in zip(rows, items, strict=True)],
    )


# The monthly digest of proposed commitments (orchestration/reports/proposals.py), beside the department
# reports; no department's report file starts with `_` (report_file_name drops it), so none can be this file.
PROPOSALS_FILE = "_proposals.html"


def report_file_name(department: str) -> str:
    """A department's monthly report file: its name with path separators and control characters replaced."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", department).strip(". ").lstrip("_") + ".html"


def report_link(reports_url: str, month: str, file_name: str) -> str:
    return f"{reports_url}/{month}/{quote(file_name)}"


def _monthly_message(row: dict[str, Any], subject: str, body: str, kind: str, who: str, link: str) -> Message:
    """A monthly message of one delivery: its link, the month and `who` it greets ({month} {link} {<who>})."""
    month = pd.Timestamp(row["start_at"]).strftime("%Y-%m")
    values = {who: row["recipient_department"], "month": month, "link": link}
    record = {"delivery_key": row["delivery_key"], kind: month, who: values[who], "link": link}
    return Message((row["delivery_key"],), subject.format(**values), body.format(**values), [record])


def report_message(row: dict[str, Any], templates: Templates, link: str) -> Message:
    """The monthly report of one department (outbox level `report`): its link, one message per delivery."""
    return _monthly_message(row, templates.report_subject, templates.report_body, "report", "department", link)


def proposals_message(row: dict[str, Any], templates: Templates, link: str) -> Message:
    """The month's digest of proposed commitments (outbox level `proposals`): its link."""
    return _monthly_message(row, templates.proposals_subject, templates.proposals_body, "proposals", "recipient", link)
