"""The schema of config/alerts.yaml: evaluation schedule, alert rules, channels, routes, templates.

Validated when the definitions load, so a broken file fails fast with the field in the message.
Channels only ever name environment variables for URLs and credentials.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from orchestration.config_files import ConfigFile, StrictModel, read_yaml
from orchestration.errors import ConfigError
from orchestration.reference.calendars import parse_duration
from orchestration.reference.catalogue import WILDCARD, Catalogue, load_catalogue
from orchestration.secrets import secret_variable
from orchestration.settings import Settings

LEVELS = ("notice", "acceptable", "warning")  # in increasing severity
BANDS = ("acceptable", "warning")


class AlertConfigError(ConfigError):
    pass


class Evaluation(StrictModel):
    cron: str = "*/15 * * * *"
    cursor_overlap: int = 300
    initial_lookback: int = 2 * 86400
    file_lookback_days: int = Field(default=2, ge=1)
    dagster_ui_url_env: str = "DAGSTER_UI_URL"
    # Where <data dir>/reports is served (the dashboard serves it at /reports): the base of a report's link.
    reports_url_env: str = "REPORTS_URL"

    _durations = field_validator("cursor_overlap", "initial_lookback", mode="before")(parse_duration)

    def dagster_ui_url(self) -> str:
        return (os.environ.get(self.dagster_ui_url_env) or "http://127.0.0.1:3000").rstrip("/")

    def reports_url(self) -> str:
        return (os.environ.get(self.reports_url_env) or "http://127.0.0.1:8050/reports").rstrip("/")


class Delivery(StrictModel):
    max_attempts: int = Field(default=8, ge=1)
    backoff_initial: int = 30
    backoff_max: int = 1800
    claim_timeout: int = 300
    timeout: int = 10

    _durations = field_validator("backoff_initial", "backoff_max", "claim_timeout", "timeout", mode="before")(
        parse_duration
    )


class Rule(StrictModel):
    process: str = WILDCARD
    node: str = WILDCARD
    segment: str = WILDCARD
    levels: list[Literal["acceptable", "warning"]] = list(BANDS)
    early_notice: float | None = Field(default=0.8, gt=0, lt=1)
    escalate: bool = True

    @property
    def specificity(self) -> int:
        return sum(v != WILDCARD for v in (self.process, self.node, self.segment))


class Channel(StrictModel):
    type: Literal["log", "webhook", "email"]
    language: Literal["zh", "en"] = "zh"
    digest: bool = False
    # webhook
    url_env: str | None = None
    payload: Literal["generic", "robot"] = "generic"
    # email
    smtp_host_env: str | None = None
    smtp_port_env: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    sender: str | None = None
    recipients: list[str] = []
    starttls: bool = True
    ca_file_env: str | None = None  # a private CA for the SMTP server's certificate
    # log
    path_env: str | None = None  # also append JSON lines to this file

    @model_validator(mode="after")
    def _check(self) -> Channel:
        if self.type == "webhook" and not self.url_env:
            raise ValueError("a webhook channel needs url_env (the variable holding its URL)")
        if self.type == "email" and not (self.smtp_host_env and self.sender and self.recipients):
            raise ValueError("an email channel needs smtp_host_env, sender and recipients")
        # A webhook URL carries its token (in the path or the query): the whole URL is a credential.
        secret_variable(self.url_env if self.type == "webhook" else None)
        secret_variable(self.password_env)
        return self


ROUTE_KINDS = ("alerts", "reports")


class Route(StrictModel):
    department: str = WILDCARD
    position: str = WILDCARD
    channels: list[str]
    # What the route carries: the live alerts, the monthly department reports (orchestration/reports), or both
    # by default; `proposals` (the monthly digest of proposed commitments) only where a route names it.
    kinds: list[Literal["alerts", "reports", "proposals"]] = Field(default=list(ROUTE_KINDS), min_length=1)


class Templates(StrictModel):
    # Times in messages are local to this zone; the loader fills in the business time zone.
    time_zone: str = "UTC"
    levels: dict[str, str]
    limits: dict[str, str]
    escalation: str
    subject: str
    body: str
    digest_subject: str
    digest_body: str
    digest_item: str
    # The monthly department report (or its link). Fields: {department} {month} {link}.
    report_subject: str = "【服务承诺月报】{department} {month}"
    report_body: str = "{department}：{month} 的服务承诺月报已生成。\n查看：{link}"
    # The monthly digest of proposed commitments. Fields: {recipient} {month} {link}.
    proposals_subject: str = "【承诺时限调整建议】{month}"
    proposals_body: str = (
        "{recipient}：{month} 被标记节点的建议时限与各流程的瓶颈节点已生成（仅供参考，不会自动生效）。\n查看：{link}"
    )

    @model_validator(mode="after")
    def _check(self) -> Templates:
        for field in ("levels", "limits"):
            missing = set(LEVELS) - set(getattr(self, field))
            if missing:
                raise ValueError(f"{field} lacks {sorted(missing)}")
        return self


class AlertConfig(StrictModel):
    evaluation: Evaluation = Evaluation()
    delivery: Delivery = Delivery()
    rules: list[Rule] = Field(min_length=1)
    channels: dict[str, Channel]
    routes: list[Route] = []
    default: list[str] = Field(min_length=1)
    templates: dict[str, Templates]

    @model_validator(mode="after")
    def _check(self) -> AlertConfig:
        named = [c for r in self.routes for c in r.channels] + self.default
        unknown = sorted(set(named) - set(self.channels))
        if unknown:
            raise ValueError(f"routes name unknown channels {unknown}")
        languages = sorted({c.language for c in self.channels.values()} - set(self.templates))
        if languages:
            raise ValueError(f"no templates for language(s) {languages}")
        return self


@cache
def _load(path: Path, stamp: float, business_time_zone: str, processes_file: Path) -> AlertConfig:
    try:
        file = read_yaml(path, "set ALERTS_FILE, or put alerts.yaml in the configuration directory")
        config = file.validate(AlertConfig)
        _check_rules(file, config, load_catalogue(processes_file))
    except ConfigError as exc:
        raise AlertConfigError(str(exc)) from None
    for templates in config.templates.values():
        templates.time_zone = business_time_zone
    return config


def _check_rules(file: ConfigFile, config: AlertConfig, catalogue: Catalogue) -> None:
    """A rule names the catalogue's codes: a misspelt one would match no run, leaving them to a broader rule."""
    processes, nodes = set(catalogue.processes.process_code), catalogue.node_keys()
    for i, rule in enumerate(config.rules):
        label = f"{rule.process} / {rule.node} / {rule.segment}"
        if rule.process != WILDCARD and rule.process not in processes:
            raise file.error(
                ("rules", i),
                f"unknown process {rule.process!r} (processes: {', '.join(catalogue.processes.process_code)})",
                label,
            )
        if rule.node != WILDCARD and not any(node == rule.node and rule.process in (WILDCARD, p) for p, node in nodes):
            raise file.error(("rules", i), f"unknown node {rule.node!r} of process {rule.process}", label)
        if rule.segment != WILDCARD and rule.segment not in catalogue.segments:
            raise file.error(
                ("rules", i), f"unknown segment {rule.segment!r} (segments: {', '.join(catalogue.segments)})", label
            )


def load_alert_config(settings: Settings, path: Path | None = None) -> AlertConfig:
    """The alert rules of the settings (or of `path`), validated against the catalogue; reread when the file
    changes."""
    path = path or settings.alerts_file
    stamp = path.stat().st_mtime if path.exists() else 0.0
    return _load(path, stamp, settings.business_time_zone.key, settings.processes_file)
