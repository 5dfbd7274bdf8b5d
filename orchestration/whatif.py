"""What-if replay: judge the history of a range under a candidate commitments file, beside the published marts.

The candidate is validated by the same loader as `commitments.yaml` (orchestration/reference/), so it is
rejected the same way (`ConfigError`, `file:line: entry: message`) before anything is written. It is then
published with the other reference tables into the what-if landing schema `<schema>_whatif_landing`, and
the period marts of one grain are judged into `<schema>_whatif` by the dbt project itself: dbt runs with
WAREHOUSE_SCHEMA=`<schema>_whatif` (dbt_project/macros/project/generate_schema_name.sql, the landing source),
so every relation it writes is a what-if one. The published marts and landing tables are only read:

- the base data table and the pauses (dbt tag `base`) are not rebuilt; for the run they are views in the
  what-if schema over the published ones, dropped afterwards, so the what-if schema keeps no dependency;
- the periods are those overlapping [first, last]; they are evaluated as of the published marts' own
  `as_of`, so a period still open when it was published is compared at the same instant.

The comparison is set work in the warehouse: `whatif_run_changes` (each run whose state differs) and
`whatif_comparison` (per period, process and node, and per segment of it (segment `*`: the whole node, as the
flags of the summary): achievement rate now and under the candidate,
runs that change state, the flag now and under the candidate), both in the what-if schema; a CSV copy
goes under `<data dir>/whatif/`.
"""

import dataclasses
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from dagster import Config, JobDefinition, MetadataValue, Output, job, op

from orchestration.config_files import shown
from orchestration.dbt_project import BASE_MODELS, PERIOD_TAGS, profile_dir, read_manifest
from orchestration.errors import ConfigError
from orchestration.reference.commitments import load_commitments
from orchestration.reference.publish import REFERENCE_TABLES, reference_frames
from orchestration.settings import DBT_EXECUTABLE, Settings
from orchestration.warehouse import Warehouse

Grain = Literal["day", "week", "month"]
# The marts the comparison reads, per grain (dbt_project/models/marts/periods/).
MART_SUFFIX = {"day": "daily", "week": "weekly", "month": "monthly"}
WHATIF_SUFFIX = "_whatif"
# `<schema>_whatif_landing` must fit PostgreSQL's 63 characters.
MAX_SCHEMA_LENGTH = 63 - len(WHATIF_SUFFIX) - len("_landing")
CALIBRATION_MART = "commitment_calibration_monthly"


class WhatIfError(ValueError):
    """The replay cannot run as asked (a range, the published marts missing, dbt failed); the message says why."""


@dataclass(frozen=True)
class Replay:
    """What was replayed and where the comparison is."""

    schema: str
    window_start: date
    window_end: date  # exclusive
    comparison: pd.DataFrame
    csv_path: Path


def whatif_warehouse(warehouse: Warehouse) -> Warehouse:
    """The same warehouse, with `<schema>_whatif` as its dbt schema (and `<schema>_whatif_landing` as landing)."""
    if len(warehouse.schema_name) > MAX_SCHEMA_LENGTH:
        raise ConfigError(
            f"WAREHOUSE_SCHEMA={warehouse.schema_name!r} is too long for a what-if replay beside it "
            f"({warehouse.schema_name}{WHATIF_SUFFIX}_landing): use at most {MAX_SCHEMA_LENGTH} characters"
        )
    return warehouse.model_copy(update={"schema_name": warehouse.schema_name + WHATIF_SUFFIX})


def candidate_reference(settings: Settings, candidate: Path) -> dict[str, pd.DataFrame]:
    """Every reference table, with the commitments read from `candidate` by the loader of commitments.yaml:
    the same checks against the same catalogue and calendars, the same `file:line` messages."""
    if not candidate.is_file():
        raise ConfigError(f"{shown(candidate)}: the candidate commitments file does not exist")
    return reference_frames(dataclasses.replace(settings, commitments_file=candidate.resolve()))


def period_window(first: date, last: date, grain: Grain) -> tuple[date, date]:
    """The business dates [start, end) of the periods of `grain` that overlap [first, last]."""
    if last < first:
        raise WhatIfError(f"the range ends ({last}) before it begins ({first})")
    if grain == "day":
        return first, last + timedelta(days=1)
    if grain == "week":
        return first - timedelta(days=first.weekday()), last + timedelta(days=7 - last.weekday())
    following = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    return first.replace(day=1), following


def replay(settings: Settings, warehouse: Warehouse, candidate: Path, first: date, last: date,
           grain: Grain = "month") -> Replay:  # fmt: skip
    """Judge the periods overlapping [first, last] under `candidate` into `<schema>_whatif` and compare them
    with the published marts. Raises ConfigError (the candidate) or WhatIfError before writing anything."""
    if grain not in MART_SUFFIX:
        raise WhatIfError(f"grain {grain!r} is not one of {', '.join(MART_SUFFIX)}")
    frames = candidate_reference(settings, candidate)  # first: a bad candidate writes nothing
    window_start, window_end = period_window(first, last, grain)
    whatif = whatif_warehouse(warehouse)
    published, schema = warehouse.schema_name, whatif.schema_name
    suffix = MART_SUFFIX[grain]
    base = _models_tagged(BASE_MODELS)
    needed = [*base, ("", f"node_run_states_{suffix}"), ("", f"achievement_rates_{suffix}")]
    missing = [name for within, name in needed if not warehouse.table_exists(published + within, name)]
    if missing:
        raise WhatIfError(
            f"the published marts are not built in {published} ({', '.join(missing)} missing): "
            "run `commitments backfill` over the range first"
        )
    in_window = (f"period_start_date >= cast('{window_start}' as date) "
                 f"and period_start_date < cast('{window_end}' as date)")  # fmt: skip
    as_of = warehouse.query(f"select max(as_of) as as_of from {published}.node_run_states_{suffix} where {in_window}")
    dbt_vars = {"window_start": window_start.isoformat(), "window_end": window_end.isoformat()}
    if pd.notna(as_of.as_of.iloc[0]):
        dbt_vars["as_of_cap"] = pd.Timestamp(as_of.as_of.iloc[0]).strftime("%Y-%m-%d %H:%M:%S")

    whatif.replace_tables({table: frames[table] for table in REFERENCE_TABLES})
    _link_base(whatif, published, base)
    try:
        _dbt_run(whatif, settings, grain, dbt_vars)
    finally:
        _unlink_base(whatif, base)
    comparison = _compare(whatif, published, suffix, in_window)
    csv_path = settings.data_dir / "whatif" / f"whatif_{grain}_{window_start}_{window_end - timedelta(days=1)}.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    comparison.to_csv(csv_path, index=False)
    return Replay(schema, window_start, window_end, comparison, csv_path)


def _models_tagged(selector: str) -> list[tuple[str, str]]:
    """The models a dbt tag selects, from the manifest (Python never names a model of a job), each as its
    schema's suffix ('' for the target schema, `_staging` for a model of that custom schema: dbt_project/
    macros/project/generate_schema_name.sql) and its name."""
    tag = selector.removeprefix("tag:")
    nodes = read_manifest()["nodes"].values()
    return sorted(
        (f"_{n['config']['schema']}" if n["config"].get("schema") else "", n["name"])
        for n in nodes
        if n["resource_type"] == "model" and tag in n["tags"]
    )


def _link_base(whatif: Warehouse, published: str, base: list[tuple[str, str]]) -> None:
    with whatif.connect() as conn:
        cur = conn.cursor()
        for within, name in base:
            cur.execute(f"create schema if not exists {whatif.schema_name}{within}")
            cur.execute(f"drop view if exists {whatif.schema_name}{within}.{name}")
            cur.execute(f"create view {whatif.schema_name}{within}.{name} as select * from {published}{within}.{name}")


def _unlink_base(whatif: Warehouse, base: list[tuple[str, str]]) -> None:
    with whatif.connect() as conn:
        for within, name in base:
            conn.cursor().execute(f"drop view if exists {whatif.schema_name}{within}.{name}")


def _dbt_run(whatif: Warehouse, settings: Settings, grain: Grain, dbt_vars: dict[str, str]) -> None:
    """The grain's period marts and the reference views and dimensions they read, rebuilt whole
    (--full-refresh: only the window's periods, none left from an earlier candidate), in a dbt process whose
    environment names the what-if schema. Its own target path: the project's manifest stays the published one."""
    target = settings.dbt_project_dir / "target" / "whatif" / str(os.getpid())
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **whatif.dbt_environment()}
    partial = profile_dir(env) / "partial_parse.msgpack"  # the what-if schema's profile, when it was parsed
    if partial.exists():
        shutil.copy(partial, target / partial.name)
    command = [
        DBT_EXECUTABLE, "run", "--full-refresh",
        "--select", f"+{PERIOD_TAGS[grain]}", "--exclude", f"+{BASE_MODELS}",
        "--vars", json.dumps(dbt_vars),
        "--project-dir", str(settings.dbt_project_dir), "--profiles-dir", str(settings.dbt_project_dir),
        "--target-path", str(target),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, cwd=settings.dbt_project_dir, env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(target, ignore_errors=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise WhatIfError(f"dbt could not judge the range under the candidate:\n{tail}")


def _compare(whatif: Warehouse, published: str, suffix: str, in_window: str) -> pd.DataFrame:
    schema = whatif.schema_name
    # Per node (segment '*') and per node and segment: the flags of the summary, and where they come from.
    level = "grouping_level in ('process_node', 'process_node_segment')"
    rate_columns = "period_id, period_start_date, process_code, node_code, segment, evaluated_runs, achievement_rate"
    flag = ("case when raise_commitment then 'raise_commitment' when improve_process then 'improve_process' "
            "end as flag")  # fmt: skip
    run_changes = f"""
        select
            coalesce(c.period_node_run_id, n.period_node_run_id) as period_node_run_id,
            coalesce(c.period_id, n.period_id) as period_id,
            coalesce(c.period_start_date, n.period_start_date) as period_start_date,
            coalesce(c.node_run_id, n.node_run_id) as node_run_id,
            coalesce(c.work_order_id, n.work_order_id) as work_order_id,
            coalesce(c.process_code, n.process_code) as process_code,
            coalesce(c.node_code, n.node_code) as node_code,
            coalesce(c.visit, n.visit) as visit,
            coalesce(c.segment, n.segment, '(none)') as segment,
            n.state as state_now,
            c.state as state_candidate,
            n.commitment_version_id as commitment_version_now,
            c.commitment_version_id as commitment_version_candidate
        from (select * from {published}.node_run_states_{suffix} where {in_window}) as n
        full outer join {schema}.node_run_states_{suffix} as c
            on c.period_node_run_id = n.period_node_run_id
        where n.state is null or c.state is null or n.state <> c.state
    """
    comparison = f"""
        with now_rates as (
            select {rate_columns}, {flag} from {published}.achievement_rates_{suffix} where {level} and {in_window}
        ),
        candidate_rates as (
            select {rate_columns}, {flag} from {schema}.achievement_rates_{suffix} where {level}
        ),
        changed as (
            select period_id, process_code, node_code, segment, count(*) as changed_runs
            from {schema}.whatif_run_changes
            group by period_id, process_code, node_code, segment
            union all
            select period_id, process_code, node_code, '*' as segment, count(*) as changed_runs
            from {schema}.whatif_run_changes
            group by period_id, process_code, node_code
        ),
        joined as (
            select
                coalesce(c.period_id, n.period_id) as period_id,
                coalesce(c.period_start_date, n.period_start_date) as period_start_date,
                coalesce(c.process_code, n.process_code) as process_code,
                coalesce(c.node_code, n.node_code) as node_code,
                coalesce(c.segment, n.segment) as segment,
                n.evaluated_runs as evaluated_runs_now,
                c.evaluated_runs as evaluated_runs_candidate,
                n.achievement_rate as achievement_rate_now,
                c.achievement_rate as achievement_rate_candidate,
                n.flag as flag_now,
                c.flag as flag_candidate
            from now_rates as n
            full outer join candidate_rates as c
                on c.period_id = n.period_id and c.process_code = n.process_code
                and c.node_code = n.node_code and c.segment = n.segment
        )
        select
            j.*,
            coalesce(ch.changed_runs, 0) as changed_runs,
            case
                when j.flag_now is not distinct from j.flag_candidate then 'same'
                when j.flag_now is null then 'appears'
                when j.flag_candidate is null then 'disappears'
                else 'replaced'
            end as flag_change
        from joined as j
        left join changed as ch
            on ch.period_id = j.period_id and ch.process_code = j.process_code
            and ch.node_code = j.node_code and ch.segment = j.segment
    """
    with whatif.connect() as conn:
        cur = conn.cursor()
        for table, body in (("whatif_run_changes", run_changes), ("whatif_comparison", comparison)):
            cur.execute(f"drop table if exists {schema}.{table}")
            cur.execute(f"create table {schema}.{table} as {body}")
    frame = whatif.query(
        f"select * from {schema}.whatif_comparison order by period_start_date, process_code, node_code, segment"
    )
    frame["changed_runs"] = frame.changed_runs.astype(int)
    return frame


# --- candidates from the calibration mart's proposals -------------------------------------------------------


@dataclass(frozen=True)
class Proposed:
    """What `propose` wrote: versions whose limits it replaced, segment lines it added, proposals it left out."""

    changed: int
    added: int
    skipped: int


def propose(settings: Settings, warehouse: Warehouse, out: Path, period_start: date | None = None) -> Proposed:
    """Write a candidate commitments file: commitments.yaml with the calibration mart's proposals (the latest
    month with a proposal for a version and segment, or the month starting `period_start`). The mart has a row
    per run segment, so:

    - a version of one segment takes that segment's proposed commitment and tolerance;
    - a version of segment `*` stays, as the fallback of the segments without a proposal, and each segment it
      judged that has a proposal gets its own line (same validity, clock and owner) with it; unless the file
      already has lines of that segment for the node (a new line could overlap them) or the runs had no
      segment: those proposals are skipped (counted).

    Versions without a proposal are kept as they are. The written file is read back by the loader of
    commitments.yaml, so it is a valid candidate."""
    schema = warehouse.schema_name
    if not warehouse.table_exists(schema, CALIBRATION_MART):
        raise WhatIfError(f"{schema}.{CALIBRATION_MART} is not built: run the monthly job first")
    month = f"and period_start_date = cast('{period_start}' as date)" if period_start else ""
    proposals = warehouse.query(f"""
        select commitment_version_id, segment, period_start_date, proposed_commitment_seconds,
            proposed_tolerance_seconds
        from {schema}.{CALIBRATION_MART}
        where proposed_commitment_seconds is not null and proposed_tolerance_seconds is not null {month}
    """)  # fmt: skip
    key = ["commitment_version_id", "segment"]
    latest = proposals.sort_values("period_start_date", kind="stable").groupby(key).tail(1).sort_values(key)
    versions, segments = _version_ids(settings)
    raw = yaml.safe_load(settings.commitments_file.read_text(encoding="utf-8"))
    own_lines = {(e["process"], e["node"], e["segment"]) for e in raw["commitments"] if e.get("segment", "*") != "*"}
    entries, changed, added, skipped = [], 0, 0, 0
    for entry, version in zip(raw["commitments"], versions, strict=True):
        entry.setdefault("segment", "*")
        entries.append(entry)
        for proposal in latest[latest.commitment_version_id == version].itertuples():
            limits = _limits(proposal)
            if entry["segment"] != "*":
                entry.update(limits)
                changed += 1
            elif proposal.segment in segments and (entry["process"], entry["node"], proposal.segment) not in own_lines:
                entries.append({**entry, "segment": proposal.segment, **limits})
                added += 1
            else:
                skipped += 1
    lines = [
        f"# A candidate generated by `commitments propose` from {schema}.{CALIBRATION_MART} and",
        f"# {shown(settings.commitments_file)}: {changed} version(s) changed, {added} segment line(s) added.",
        "# Try it with `commitments whatif --candidate <this file> --from ... --to ...`; never applied by itself.",
        "commitments:",
    ]
    flow = {"default_flow_style": True, "allow_unicode": True, "width": 10_000, "sort_keys": False}
    lines += [f"  - {yaml.safe_dump(e, **flow).strip()}" for e in entries]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    candidate_reference(settings, out)
    return Proposed(changed, added, skipped)


def _limits(proposal) -> dict[str, str]:
    commitment = int(proposal.proposed_commitment_seconds)
    return {"commitment": _duration(commitment),
            "tolerance": _duration(max(int(proposal.proposed_tolerance_seconds), commitment))}  # fmt: skip


def _version_ids(settings: Settings) -> tuple[list[str], set[str]]:
    """The version id of each entry of commitments.yaml, in file order (the loader keeps the order), and the
    catalogue's segments."""
    from orchestration.reference.calendars import load_calendars
    from orchestration.reference.catalogue import load_catalogue

    catalogue = load_catalogue(settings.processes_file)
    calendars = load_calendars(settings.history_start, settings.calendars_file)
    frame = load_commitments(settings.commitments_file, catalogue, calendars, settings.business_time_zone)
    return frame.commitment_version_id.tolist(), set(catalogue.segments)


def _duration(seconds: int) -> str:
    """Seconds as commitments.yaml writes them, never in days: a `d` means a working day on a business clock."""
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds > 3600 and seconds % 900 == 0:  # the calibration's quarter hours: 1.25h, 18.75h
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}min"
    return f"{seconds}s"


# --- the Dagster job ----------------------------------------------------------------------------------------


class WhatIfConfig(Config):
    candidate: str  # path of the candidate commitments file (the format of commitments.yaml)
    first: str  # YYYY-MM-DD: the first business day of the range
    last: str  # YYYY-MM-DD: the last business day of the range (inclusive)
    grain: str = "month"  # day, week or month


def build_whatif_job(settings: Settings) -> JobDefinition:
    # Not keeps_duckdb_open (orchestration/warehouse.py): its dbt runs as a child process, which opens the file.
    @op(pool="warehouse", description="Judge the range under the candidate into <schema>_whatif and compare.")
    def whatif_replay(config: WhatIfConfig, warehouse: Warehouse) -> Output[str]:
        result = replay(settings, warehouse, Path(config.candidate), date.fromisoformat(config.first),
                        date.fromisoformat(config.last), config.grain)  # type: ignore[arg-type]  # fmt: skip
        frame = result.comparison
        return Output(
            str(result.csv_path),
            metadata={
                "schema": result.schema,
                "csv": MetadataValue.path(str(result.csv_path)),
                "changed_runs": int(frame.changed_runs.sum()),
                "flags_changed": int((frame.flag_change != "same").sum()),
                "comparison": MetadataValue.md(frame.head(50).to_markdown(index=False)),
            },
        )

    @job(
        name="whatif_job",
        description="What-if replay: judge a range under a candidate commitments file, beside the published marts.",
    )
    def whatif_job() -> None:
        whatif_replay()

    return whatif_job
