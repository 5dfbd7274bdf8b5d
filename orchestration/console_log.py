"""The console log of the runs the runner starts (`commitments demo`, `backfill`, the benchmark): Dagster's
colored console at DEBUG, with a step's materialisation written once per asset rather than once per
partition.

A single-run backfill materialises each asset once per partition of its range, and Dagster logs each to
the console: "Materialized value node_run_states_daily." 1,492 times for a four-year daily backfill, 8,957
lines in all, which name no partition and cost about 0.1 ms each to build, format and write. The first
of each asset in a step is written; the step's success line follows. Every event is still stored in the
instance, per partition, for the UI (orchestration/event_log.py).

Dagster uses a job's own `console` logger only when the run's configuration names it
(`RUN_CONFIG`, which the runner passes); runs launched from the UI or by the daemon log as Dagster's
default console does.
"""

from __future__ import annotations

import logging
from typing import Any

from dagster import Field, InitLoggerContext, logger
from dagster._core.events import DagsterEventType
from dagster._core.log_manager import LOG_RECORD_METADATA_ATTR
from dagster._utils.log import create_console_logger

RUN_CONFIG = {"loggers": {"console": {}}}
_MATERIALIZATION = DagsterEventType.ASSET_MATERIALIZATION.value


class _OneMaterialisationLinePerAsset(logging.Logger):
    """Decides before a record is made: Dagster hands its records to a run's loggers with `log`."""

    def __init__(self, name: str, level: int | str) -> None:
        super().__init__(name, level=level)
        self._written: set[tuple[Any, Any]] = set()

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        meta = (kwargs.get("extra") or {}).get(LOG_RECORD_METADATA_ATTR)
        event = meta.get("dagster_event") if meta else None
        if event is not None and event.event_type_value == _MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            if materialization.partition is not None:
                key = (event.step_key, materialization.asset_key)
                if key in self._written:
                    return
                self._written.add(key)
        super().log(level, msg, *args, **kwargs)


@logger(
    Field({"log_level": Field(str, is_required=False, default_value="DEBUG")}),
    description="Dagster's colored console, a step's materialisation once per asset, not per partition.",
)
def console_logger(init_context: InitLoggerContext) -> logging.Logger:
    level = init_context.logger_config["log_level"]
    out = _OneMaterialisationLinePerAsset("dagster", level)
    for handler in create_console_logger("dagster", level).handlers:  # Dagster's own console: stream, format
        out.addHandler(handler)
    return out
