"""The monthly digest of proposed commitments for the service-quality team (issue 14): one self-contained HTML
page per month, `<data dir>/reports/<YYYY-MM>/_proposals.html`, beside the department reports, and its link
sent once per month through the routes of alerts.yaml that carry `proposals`.

It shows what `commitments demo` prints for the month (docs/CALIBRATION.md): each flagged node and segment
with its proposed limits beside the current ones, and each process's top bottleneck. The page is written in
the language of the commitments file (limits as `commitments.yaml` spells them), so a proposal can be copied
into a candidate file for `commitments whatif`.
"""

from __future__ import annotations

import html
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from orchestration.config_files import format_duration
from orchestration.monitoring.templates import PROPOSALS_FILE
from orchestration.warehouse import Warehouse


def proposals_path(reports_dir: Path, month: date) -> Path:
    return reports_dir / f"{month:%Y-%m}" / PROPOSALS_FILE


def read_months(warehouse: Warehouse, months: list[date]) -> dict[date, tuple[pd.DataFrame, pd.DataFrame]] | None:
    """Each month's (flagged calibration rows, top bottleneck per process), read in two queries for all the
    months; None before the marts exist."""
    schema = warehouse.schema_name
    if not warehouse.table_exists(schema, "commitment_calibration_monthly"):
        return None
    months = sorted({m.replace(day=1) for m in months})
    if not months:
        return {}
    these = "period_start_date in (" + ", ".join(f"cast('{m.isoformat()}' as date)" for m in months) + ")"
    proposals = warehouse.query(
        f"select * from {schema}.commitment_calibration_monthly where flag is not null "
        f"and {these} order by process_code, node_code, segment"
    )
    bottlenecks = warehouse.query(
        f"select * from {schema}.process_bottlenecks_monthly where grouping_level = 'process_node' "
        f"and bottleneck_rank = 1 and {these} order by process_code"
    )

    def by_month(frame: pd.DataFrame) -> dict[date, pd.DataFrame]:
        month = pd.to_datetime(frame.period_start_date).dt.date
        return {m: group for m, group in frame.groupby(month, sort=False)}

    proposals_of, bottlenecks_of = by_month(proposals), by_month(bottlenecks)
    return {m: (proposals_of.get(m, proposals.iloc[:0]), bottlenecks_of.get(m, bottlenecks.iloc[:0])) for m in months}


def _limits(commitment: object, tolerance: object, day: int) -> str:
    if pd.isna(commitment):
        return "—"
    return f"{format_duration(commitment, day)} / {format_duration(tolerance, day)}"


def _share(value: object) -> str:
    return "—" if pd.isna(value) else f"{float(value):.1%}"


def proposal_rows(proposals: pd.DataFrame) -> pd.DataFrame:
    """One row per flagged node and segment: current and proposed limits as commitments.yaml writes them."""
    rows = []
    for r in proposals.itertuples():
        day = int(r.clock_day_seconds)
        proposed = _limits(r.proposed_commitment_seconds, r.proposed_tolerance_seconds, day)
        rows.append({
            "流程 process": r.process_code, "节点 node": r.node_code, "客户群 segment": r.segment,
            "标志 flag": r.flag, "达成率 rate": _share(r.achievement_rate), "完成运行 runs": int(r.completed_runs),
            "当前 承诺/忍耐 now": _limits(r.commitment_seconds, r.tolerance_seconds, day),
            "建议 承诺/忍耐 proposed": proposed if proposed != "—" else r.proposal_reason,
            "方向 direction": r.direction or "—", "时钟 clock": r.clock,
        })  # fmt: skip
    return pd.DataFrame(rows)


def bottleneck_rows(bottlenecks: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([
        {"流程 process": r.process_code, "瓶颈节点 node": r.node_code, "超时占比 excess share": _share(r.excess_share),
         "端到端预警中占比 in e2e warnings": _share(r.warning_order_share), "返工 rework": _share(r.rework_share),
         "达成率 rate": _share(r.achievement_rate), "趋势 trend": r.trend or "—"}
        for r in bottlenecks.itertuples()
    ])  # fmt: skip


def render(proposals: pd.DataFrame, bottlenecks: pd.DataFrame, month: date, generated: datetime) -> str:
    def table(frame: pd.DataFrame, empty: str) -> str:
        return frame.to_html(index=False, border=0, classes="t") if len(frame) else f"<p>{html.escape(empty)}</p>"

    title = f"承诺时限调整建议 {month:%Y-%m}"
    return f"""<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}} .t{{border-collapse:collapse}}
.t td,.t th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head><body>
<h1>{title}</h1>
<p>建议只供参考，从不自动生效：先用 <code>commitments whatif</code> 在历史数据上试算，再修改 commitments.yaml。
规则见 docs/CALIBRATION.md。生成于 {generated:%Y-%m-%d %H:%M} UTC。</p>
<h2>被标记的节点：建议时限与当前时限 (flagged nodes: proposed and current limits)</h2>
{table(proposal_rows(proposals), "本月没有被标记的节点。")}
<h2>各流程的首要瓶颈节点 (top bottleneck per process)</h2>
{table(bottleneck_rows(bottlenecks), "本月没有瓶颈数据。")}
</body></html>
"""


def write_digests(warehouse: Warehouse, reports_dir: Path, months: list[date], generated: datetime) -> dict[date, Path]:
    """Each month's digest page; none when the calibration marts are not built yet."""
    written = {}
    for month, (proposals, bottlenecks) in (read_months(warehouse, months) or {}).items():
        path = proposals_path(reports_dir, month)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(proposals, bottlenecks, month, generated), encoding="utf-8")
        written[month] = path
    return written
