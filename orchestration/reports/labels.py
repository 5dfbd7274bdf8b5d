"""The words on the dashboard and in the reports, Chinese first (the service-quality teams' terms, SEMANTICS.md)."""

from __future__ import annotations

import math
from typing import Any

from orchestration.monitoring.templates import human_duration

LANGUAGES = ("zh", "en")
STATES = (
    "completed_normal",
    "completed_acceptable",
    "completed_warning",
    "in_progress_normal",
    "in_progress_acceptable",
    "in_progress_warning",
    "cancelled",
)
# Coloured by band: green normal, amber acceptable, red warning; lighter while still in progress.
STATE_COLOURS = {
    "completed_normal": "#1a9850",
    "completed_acceptable": "#f39c12",
    "completed_warning": "#d73027",
    "in_progress_normal": "#91cf60",
    "in_progress_acceptable": "#fdd49e",
    "in_progress_warning": "#fc8d59",
    "cancelled": "#9e9e9e",
}
BAND_COLOURS = {"normal": "#1a9850", "acceptable": "#f39c12", "warning": "#d73027"}

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "服务承诺达成情况",
        "overview": "总览",
        "department": "部门",
        "live": "实时监控",
        "quality": "数据质量",
        "work_order": "工单",
        "language": "English",
        "grain": "周期类型",
        "day": "日",
        "week": "周",
        "month": "月",
        "period": "周期",
        "process": "服务流程",
        "node": "节点",
        "position": "岗位",
        "segment": "客户群",
        "visit": "第几次",
        "total_runs": "节点运行数",
        "evaluated_runs": "参与评价数",
        "achievement_rate": "服务承诺达成率",
        "completed_achievement_rate": "已完成达成率",
        "normal_share": "正常占比",
        "acceptable_share": "超承诺时限占比",
        "warning_share": "超忍耐时限占比",
        "commitment": "承诺时限",
        "tolerance": "忍耐时限",
        "flags": "提示",
        "raise_commitment": "可提高承诺",
        "improve_process": "需改进流程",
        "no_flags": "本周期没有需要提示的节点。",
        "trend": "达成率趋势",
        "states_bar": "七种状态",
        "runs": "运行数",
        "rates_table": "各服务流程达成率",
        "node_rates": "本部门节点达成率",
        "flagged_nodes": "需关注的节点",
        "late_runs": "超时的节点运行（超承诺时限与超忍耐时限）",
        "late_runs_count": "条",
        "timeline": "工单节点时间线",
        "start": "开始",
        "end": "结束",
        "run_time": "用时",
        "clock": "计时方式",
        "commitment_version": "承诺版本",
        "band": "时限档",
        "state": "状态",
        "open_runs": "进行中的节点运行（按剩余时间排序，负数为已超时）",
        "time_left": "剩余时间",
        "pct_elapsed": "已用时限",
        "breach_at": "超时时间",
        "as_of": "评估时间",
        "source": "数据源",
        "business_date": "业务日期",
        "received_rows": "收到行数",
        "accepted_rows": "接收行数",
        "quarantined_rows": "隔离行数",
        "reason_code": "隔离原因",
        "checks": "检查 通过 / 未通过",
        "quality_chart": "每日收到、接收与隔离的行数",
        "no_data": "暂无数据。",
        "overdue": "已超时",
        "report_title": "{department} 服务承诺月报 {month}",
        "report_generated": "数据截至 {as_of}（北京时间），生成于 {generated}",
        "department_trend": "本部门近几个月的达成率",
        "report_summary": "本月共 {total} 次节点运行，参与评价 {evaluated} 次，达成率 {rate}。",
        "report_late": "超时最久的节点运行",
        "normal": "正常",
        "acceptable": "超承诺时限",
        "warning": "超忍耐时限",
        "wall": "自然时间",
        "business": "工作时间",
        "completed_normal": "已完成·正常",
        "completed_acceptable": "已完成·超承诺",
        "completed_warning": "已完成·超忍耐",
        "in_progress_normal": "进行中·正常",
        "in_progress_acceptable": "进行中·超承诺",
        "in_progress_warning": "进行中·超忍耐",
        "cancelled": "已取消",
        "no_commitment": "无承诺",
    },
    "en": {
        "title": "Service commitments",
        "overview": "Overview",
        "department": "Department",
        "live": "Live",
        "quality": "Data quality",
        "work_order": "Work order",
        "language": "中文",
        "grain": "Period type",
        "day": "Day",
        "week": "Week",
        "month": "Month",
        "period": "Period",
        "process": "Process",
        "node": "Node",
        "position": "Position",
        "segment": "Segment",
        "visit": "Visit",
        "total_runs": "Node runs",
        "evaluated_runs": "Evaluated",
        "achievement_rate": "Achievement rate",
        "completed_achievement_rate": "Completed achievement rate",
        "normal_share": "Normal share",
        "acceptable_share": "Over commitment share",
        "warning_share": "Over tolerance share",
        "commitment": "Commitment limit",
        "tolerance": "Tolerance limit",
        "flags": "Flags",
        "raise_commitment": "Raise the commitment",
        "improve_process": "Improve the process",
        "no_flags": "No node is flagged in this period.",
        "trend": "Achievement rate trend",
        "states_bar": "The seven states",
        "runs": "Runs",
        "rates_table": "Achievement rate per process",
        "node_rates": "The department's nodes",
        "flagged_nodes": "Flagged nodes",
        "late_runs": "Late node runs (over the commitment or the tolerance limit)",
        "late_runs_count": "runs",
        "timeline": "Node timeline of the work order",
        "start": "Start",
        "end": "End",
        "run_time": "Run time",
        "clock": "Clock",
        "commitment_version": "Commitment version",
        "band": "Band",
        "state": "State",
        "open_runs": "Open node runs (by time left; negative = overdue)",
        "time_left": "Time left",
        "pct_elapsed": "Limit elapsed",
        "breach_at": "Breach at",
        "as_of": "As of",
        "source": "Source",
        "business_date": "Business date",
        "received_rows": "Received",
        "accepted_rows": "Accepted",
        "quarantined_rows": "Quarantined",
        "reason_code": "Reason",
        "checks": "Checks passed / failed",
        "quality_chart": "Rows received, accepted and quarantined per day",
        "no_data": "No data yet.",
        "overdue": "overdue",
        "report_title": "{department}: service commitments, {month}",
        "report_generated": "Data as of {as_of} (business time), generated {generated}",
        "department_trend": "The department's rate over recent months",
        "report_summary": "{total} node runs this month, {evaluated} evaluated, achievement rate {rate}.",
        "report_late": "The latest node runs",
        "normal": "Normal",
        "acceptable": "Over commitment",
        "warning": "Over tolerance",
        "wall": "Wall clock",
        "business": "Business hours",
        "completed_normal": "Completed, normal",
        "completed_acceptable": "Completed, over commitment",
        "completed_warning": "Completed, over tolerance",
        "in_progress_normal": "In progress, normal",
        "in_progress_acceptable": "In progress, over commitment",
        "in_progress_warning": "In progress, over tolerance",
        "cancelled": "Cancelled",
        "no_commitment": "No commitment",
    },
}


def label(key: str, language: str = "zh") -> str:
    """The label of `key`; an unknown key shows itself (a new state or reason code is never hidden)."""
    return LABELS.get(language, LABELS["zh"]).get(key, key)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("NaT", "<NA>", "nan")


def fmt_rate(value: Any) -> str:
    """A share as shown everywhere: one decimal percent; an undefined rate (nothing evaluated) is a dash."""
    return "—" if _missing(value) else f"{float(value) * 100:.1f}%"


def fmt_count(value: Any) -> str:
    return "—" if _missing(value) else f"{int(value):,}"


def fmt_duration(seconds: Any, language: str = "zh") -> str:
    """To the minute, negative with a minus sign (time left of an overdue run)."""
    if _missing(seconds):
        return "—"
    seconds = float(seconds)
    text = human_duration(abs(seconds), language)
    return f"-{text}" if seconds < 0 else text


def fmt_time(value: Any) -> str:
    return "—" if _missing(value) else str(value)[:16]


def name_column(kind: str, language: str) -> str:
    """`process_name_zh` or `process_name_en` of the reporting layer."""
    return f"{kind}_name_{'en' if language == 'en' else 'zh'}"


def run_node_name(row: Any, language: str, with_process: bool = True) -> str:
    """`process · node` of a row of rpt_node_run_states or rpt_open_runs, in the language where the layer has
    it (rpt_open_runs names in Chinese only), else Chinese, else the codes."""

    def name(kind: str) -> str:
        for column in (name_column(kind, language), f"{kind}_name_zh"):
            value = getattr(row, column, None)
            if not _missing(value) and value:
                return str(value)
        return str(getattr(row, f"{kind}_code"))

    return f"{name('process')} · {name('node')}" if with_process else name("node")
