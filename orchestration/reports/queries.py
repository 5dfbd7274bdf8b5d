"""The questions the dashboard and the reports ask, as SQL over the reporting layer only (`<schema>_reporting`:
rpt_achievement_rates, rpt_node_run_states, rpt_open_runs, rpt_data_quality). Portable between DuckDB and
PostgreSQL; the caller runs them with its own read-only connection (`query`), so the dashboard reads a snapshot
or the BI role and the report asset reads the warehouse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd

GRAINS = ("day", "week", "month")
LATE_STATES = ("completed_acceptable", "completed_warning", "in_progress_acceptable", "in_progress_warning")
# How many runs a page or a report lists; the counts beside them are complete.
LIST_LIMIT = 200


def literal(value: object) -> str:
    """A SQL string literal (department names are free text from the catalogue)."""
    return "'" + str(value).replace("'", "''") + "'"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


@dataclass(frozen=True)
class Reporting:
    """The reporting layer of one warehouse schema, read through `query` (SQL text -> DataFrame)."""

    query: Callable[[str], pd.DataFrame]
    schema: str

    def rel(self, name: str) -> str:
        return f"{self.schema}_reporting.{name}"

    def _rates(self, grain: str, where: str, order: str = "period_start_date") -> pd.DataFrame:
        if grain not in GRAINS:
            raise ValueError(f"grain {grain!r} is not one of {GRAINS}")
        return self.query(
            f"select * from {self.rel('rpt_achievement_rates')} "
            f"where period_grain = {literal(grain)} and {where} order by {order}"
        )

    def periods(self, grain: str) -> pd.DataFrame:
        """The periods with results, newest first: period_start_date, period_label."""
        return self.query(
            f"select distinct period_start_date, period_label from {self.rel('rpt_achievement_rates')} "
            f"where period_grain = {literal(grain)} and grouping_level = 'all' order by period_start_date desc"
        )

    def process_rates(self, grain: str) -> pd.DataFrame:
        """One row per process and period (grouping level `process`), every period: the table and the trend."""
        return self._rates(grain, "grouping_level = 'process'", "period_start_date, process_code")

    def flagged_nodes(self, grain: str, period: date, departments: tuple[str, ...] = ()) -> pd.DataFrame:
        """The nodes flagged raise_commitment or improve_process in the period (grouping level `process_node`)."""
        where = f"grouping_level = 'process_node' and period_start_date = {literal(period)} " + (
            "and (raise_commitment or improve_process)"
        )
        flagged = self._rates(grain, where, "process_code, node_code")
        if departments:
            nodes = self.department_nodes(grain, period, departments[0])
            flagged = flagged.merge(nodes[["process_code", "node_code"]], on=["process_code", "node_code"])
        return flagged

    def departments(self) -> list[str]:
        frame = self.query(
            f"select distinct department from {self.rel('rpt_achievement_rates')} "
            "where grouping_level = 'department' and department <> '(none)' order by department"
        )
        return list(frame.department)

    def department_rates(self, grain: str, department: str) -> pd.DataFrame:
        """The department's own rate per period (grouping level `department`), every period."""
        return self._rates(grain, f"grouping_level = 'department' and department = {literal(department)}")

    def department_nodes(self, grain: str, period: date, department: str) -> pd.DataFrame:
        """The department's nodes in the period: the nodes its runs passed through, with their node-level rates
        and commitments (grouping level `process_node`)."""
        runs = self.rel("rpt_node_run_states")
        return self._rates(
            grain,
            f"grouping_level = 'process_node' and period_start_date = {literal(period)} and exists ("
            f"select 1 from {runs} s where s.period_grain = {literal(grain)} "
            f"and s.period_start_date = {literal(period)} and s.department = {literal(department)} "
            f"and s.process_code = {self.rel('rpt_achievement_rates')}.process_code "
            f"and s.node_code = {self.rel('rpt_achievement_rates')}.node_code)",
            "process_code, node_code",
        )

    def node_trend(self, grain: str, nodes: pd.DataFrame) -> pd.DataFrame:
        """Every period's rate of the given (process_code, node_code) pairs."""
        if nodes.empty:
            return nodes
        pairs = " or ".join(
            f"(process_code = {literal(p)} and node_code = {literal(n)})"
            for p, n in zip(nodes.process_code, nodes.node_code, strict=True)
        )
        return self._rates(grain, f"grouping_level = 'process_node' and ({pairs})")

    def late_runs(self, grain: str, period: date, department: str, limit: int = LIST_LIMIT) -> pd.DataFrame:
        """The department's runs judged acceptable or warning in the period, longest first."""
        return self.query(
            f"select * from {self.rel('rpt_node_run_states')} where period_grain = {literal(grain)} "
            f"and period_start_date = {literal(period)} and department = {literal(department)} "
            f"and state in {_in(LATE_STATES)} order by run_seconds desc, node_run_id limit {int(limit)}"
        )

    def late_run_count(self, grain: str, period: date, department: str) -> int:
        frame = self.query(
            f"select count(*) as n from {self.rel('rpt_node_run_states')} where period_grain = {literal(grain)} "
            f"and period_start_date = {literal(period)} and department = {literal(department)} "
            f"and state in {_in(LATE_STATES)}"
        )
        return int(frame.n.iloc[0])

    def work_order_timeline(self, work_order_id: str) -> pd.DataFrame:
        """Every node run of the work order, each as its latest month judged it (a run open across a month's
        end is in both months; the later row is the newer verdict)."""
        return self.query(
            "select * from (select s.*, row_number() over (partition by node_run_id "
            "order by period_start_date desc) as newest "
            f"from {self.rel('rpt_node_run_states')} s where period_grain = 'month' "
            f"and work_order_id = {literal(work_order_id)}) as t where newest = 1 order by start_at_utc, visit"
        )

    def open_runs(self, department: str | None = None, limit: int = LIST_LIMIT) -> pd.DataFrame:
        where = f"where department = {literal(department)} " if department else ""
        return self.query(
            f"select * from {self.rel('rpt_open_runs')} {where}order by seconds_left, node_run_id limit {int(limit)}"
        )

    def data_quality(self, days: int = 31) -> pd.DataFrame:
        """The last `days` business dates with rows, per source and reason code."""
        dq = self.rel("rpt_data_quality")
        return self.query(
            f"select * from {dq} where business_date in (select distinct business_date from {dq} "
            f"order by business_date desc limit {int(days)}) order by business_date desc, source, reason_code"
        )
