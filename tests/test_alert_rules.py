"""Which alerts an open run raises and where they go (config/alerts.yaml), without a warehouse:
the most specific rule wins, only the highest level reached is raised, warnings escalate to the owning
department without doubling a channel, unrouted recipients fall back to the default channels, and a
broken alerts file fails with the field named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from orchestration.monitoring.config import AlertConfig, AlertConfigError, load_alert_config
from orchestration.monitoring.outbox import alerts_due, deliveries
from orchestration.monitoring.templates import human_duration, message
from tests.conftest import CONFIG_DIR, settings_of_env

SHIPPED = CONFIG_DIR / "alerts.yaml"


# process, node, segment, department, position, owner department
ACCEPT = ("BROADBAND", "ACCEPT", "公众", "营业厅", "营业员", "家庭客户部")
INSTALL = ("BROADBAND", "INSTALL", "公众", "装维中心", "装维工程师", "家庭客户部")
REGISTER = ("COMPLAINT", "REGISTER", "公众", "客服中心", "坐席", "客服中心")
REPLY = ("COMPLAINT", "REPLY", "公众", "客服中心", "投诉专员", "客服中心")
RESOLVE = ("HELPDESK", "RESOLVE", "*", "Support", "Operator", "Support")


def runs(*rows: tuple) -> pd.DataFrame:
    """(run id, node tuple, band, run seconds, commitment, tolerance) -> open_run_states-like rows."""
    columns = ["node_run_id", "process_code", "node_code", "segment", "department", "position", "owner_department",
               "band", "run_seconds", "commitment_seconds", "tolerance_seconds"]  # fmt: skip
    frame = pd.DataFrame([(r[0], *r[1], *r[2:]) for r in rows], columns=columns)
    return frame.assign(work_order_id="W-" + frame.node_run_id)


def config_with(**changes) -> AlertConfig:
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    raw.update(changes)
    return AlertConfig.model_validate(raw)


def test_shipped_config_loads_and_names_no_secret() -> None:
    config = load_alert_config(settings_of_env(), SHIPPED)
    assert config.evaluation.cron == "*/15 * * * *" and set(config.templates) == {"zh", "en"}
    for channel in config.channels.values():
        values = [str(v) for v in channel.model_dump().values()]
        assert not any(v.startswith(("http://", "https://")) for v in values), "URLs come from the environment"
        assert channel.password_env is None or channel.password_env.isupper()


def test_highest_level_reached_per_rule() -> None:
    config = load_alert_config(settings_of_env(), SHIPPED)
    due = alerts_due(
        runs(
            ("r1", ACCEPT, "normal", 1500, 1800, 7200),
            ("r2", ACCEPT, "normal", 1400, 1800, 7200),
            ("r3", ACCEPT, "acceptable", 2000, 1800, 7200),
            ("r4", ACCEPT, "warning", 9000, 1800, 7200),
            # the helpdesk rule: no early notice
            ("r5", RESOLVE, "normal", 400000, 432000, 864000),
        ),
        config,
    ).set_index("node_run_id")
    assert due.level.to_dict() == {"r1": "notice", "r3": "acceptable", "r4": "warning"}
    assert due.limit_seconds.to_dict() == {"r1": 1800, "r3": 1800, "r4": 7200}
    assert due.alert_key["r4"] == "r4|warning"


def test_most_specific_rule_wins_and_levels_can_be_left_out() -> None:
    config = config_with(
        rules=[
            {"process": "*", "early_notice": 0.8},
            {"process": "BROADBAND", "levels": ["warning"], "early_notice": None},
            {"process": "BROADBAND", "node": "INSTALL", "levels": ["acceptable", "warning"], "early_notice": 0.5},
        ]
    )
    due = alerts_due(
        runs(
            ("a", ACCEPT, "acceptable", 2000, 1800, 7200),
            ("b", INSTALL, "normal", 90000, 172800, 259200),
            ("c", REPLY, "normal", 12000, 14400, 28800),
        ),
        config,
    ).set_index("node_run_id")
    assert due.level.to_dict() == {"b": "notice", "c": "notice"}


def test_warning_escalates_to_the_owner_once_per_channel_and_unrouted_goes_to_default() -> None:
    config = config_with(
        routes=[
            {"department": "*", "channels": ["operations_log"]},
            {"department": "装维中心", "channels": ["broadband_robot"]},
            {"department": "家庭客户部", "channels": ["broadband_robot"]},
        ],
        default=["network_mail"],
    )  # fmt: skip
    due = alerts_due(
        runs(
            ("i", INSTALL, "warning", 300000, 172800, 259200),
            ("r", REGISTER, "warning", 20000, 3600, 14400),
        ),
        config,
    )
    # A channel gets an alert once even when the owner is routed there too (or is the responsible department).
    assert sorted(deliveries(due, config).delivery_key) == [
        "i|warning|responsible|broadband_robot",
        "i|warning|responsible|operations_log",
        "r|warning|responsible|operations_log",
    ]
    # Without the catch-all route: the owner of BROADBAND is routed nowhere, so the default channel gets it.
    narrow = config_with(routes=[{"department": "装维中心", "channels": ["broadband_robot"]}])
    assert sorted(deliveries(due, narrow).delivery_key) == [
        "i|warning|owner|operations_log",
        "i|warning|responsible|broadband_robot",
        "r|warning|responsible|operations_log",
    ]


def test_messages_in_both_languages_name_what_the_department_needs() -> None:
    config = load_alert_config(settings_of_env(), SHIPPED)
    row = {
        "delivery_key": "n|acceptable|responsible|x", "alert_key": "n|acceptable", "level": "acceptable",
        "recipient_kind": "responsible", "recipient_department": "装维中心", "work_order_id": "KD-1",
        "process_code": "BROADBAND", "process_name": "宽带装机", "node_code": "INSTALL", "node_name": "上门安装",
        "visit": 1, "segment": "VIP", "department": "装维中心", "position": "装维工程师", "run_seconds": 93784.0,
        "limit_seconds": 86400, "start_at": pd.Timestamp("2026-03-10 01:00"), "as_of": pd.Timestamp("2026-03-11 03:03"),
        "dagster_run_id": "abc",
    }  # fmt: skip
    zh = message(row, config.templates["zh"], "zh", "http://ui:3000")
    assert "KD-1" in zh.subject and "超出承诺时限" in zh.subject
    for part in ("宽带装机", "上门安装", "VIP", "装维中心", "1天2小时3分钟", "承诺时限：1天", "http://ui:3000/runs/abc",
                 "2026-03-10 09:00"):  # fmt: skip
        assert part in zh.body, part
    en = message(row, config.templates["en"], "en", "http://ui:3000")
    assert "Running for 1d 2h 3min; commitment limit: 1d" in en.body
    assert human_duration(59, "en") == "0min" and human_duration(3600, "zh") == "1小时"


def test_broken_alerts_file_names_the_problem(tmp_path: Path) -> None:
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    raw["routes"].append({"department": "财务部", "channels": ["finance_robot"]})
    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(AlertConfigError, match="finance_robot"):
        load_alert_config(settings_of_env(), path)
    raw = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    raw["channels"]["broadband_robot"].pop("url_env")
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(AlertConfigError, match="url_env"):
        load_alert_config(settings_of_env(), path)
