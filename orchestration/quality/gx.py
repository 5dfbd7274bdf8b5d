"""Great Expectations (GX Core 1.x) as a Dagster resource of our own (dagster-ge supports only GX 0.x).

Suites are JSON files in expectations/ (one per source's landing rows, one for the base table, one per
mart); each validation judges exactly the rows of the partition window. The suite's verdicts are computed in
the warehouse first (`suite_sql`, GX's semantics, one query): a window they pass links the suite's Data Docs
page. GX validates a window they fail, for the failed rows' counts, samples and a page of its own, and its
verdict stands: DuckDB rows as pandas batches (GX cannot read DuckDB through duckdb-engine), PostgreSQL rows
through GX's postgres datasource reading a view of the window. Each GX run stores its result and rebuilds
the HTML Data Docs under <data dir>/gx.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dagster import AssetCheckResult, AssetCheckSeverity, ConfigurableResource, MetadataValue

from orchestration.quality import suite_sql
from orchestration.quality.checks import markdown_table
from orchestration.settings import Settings
from orchestration.warehouse import Warehouse, pg_session_options

# The runtime variable GX substitutes the warehouse URL from (see _context).
_URL_VARIABLE = "GX_WAREHOUSE_URL"
SAMPLE_VALUES = 5
# How a window passed without GX reading it: the suite's verdicts computed in SQL (suite_sql).
IN_SQL = "the suite's verdicts in SQL"


@dataclass
class SuiteOutcome:
    suite: str
    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    docs_url: str | None = None
    validated_by: str = "Great Expectations"

    def check_result(self, check_name: str, asset_key: Any = None) -> AssetCheckResult:
        metadata: dict[str, Any] = {
            "suite": self.suite,
            "expectations_evaluated": self.evaluated,
            "expectations_failed": len(self.failed),
            "validated_by": self.validated_by,
        }
        if self.failed:
            metadata["failed_expectations"] = MetadataValue.md(markdown_table(_failed_frame(self.failed)))
        if self.docs_url:
            metadata["data_docs"] = MetadataValue.url(self.docs_url)
        return AssetCheckResult(
            asset_key=asset_key,
            check_name=check_name,
            passed=self.success,
            severity=AssetCheckSeverity.ERROR,
            metadata=metadata,
        )


def _add_suite(context: Any, spec: dict[str, Any]) -> Any:
    import great_expectations as gx

    return context.suites.add_or_update(
        gx.ExpectationSuite(name=spec["name"], expectations=spec["expectations"], meta=spec.get("meta"))
    )


def _failed_frame(failed: list[dict[str, Any]]):
    import pandas as pd

    return pd.DataFrame(failed)[["expectation", "column", "unexpected_count", "sample_values"]]


class GreatExpectations(ConfigurableResource):
    """Validates warehouse rows against the suites in `expectations_dir` and keeps Data Docs under `root_dir`."""

    root_dir: str
    expectations_dir: str
    # Where the Data Docs site is served over HTTP (`make dev` serves it): the UI's links then open, where a
    # browser refuses the file:// ones from an http page. Empty: file:// links.
    docs_base_url: str = ""
    # At most this many rows of a window in one pandas frame on DuckDB (see _slices): a 10M-run backfill's
    # window would otherwise be gigabytes of Python objects.
    slice_rows: int = 1_000_000

    @classmethod
    def from_settings(cls, settings: Settings) -> GreatExpectations:
        return cls(root_dir=str(settings.data_dir / "gx"), expectations_dir=str(settings.expectations_dir),
                   docs_base_url=settings.gx_docs_url)  # fmt: skip

    def docs_site(self) -> Path:
        """The directory of the HTML Data Docs site, to be served at docs_base_url."""
        return Path(self.root_dir) / "gx" / "uncommitted" / "data_docs" / "local_site"

    def served(self, site_url: str) -> str:
        """A page of the site (GX gives file://…/data_docs/local_site/<page>) at docs_base_url, when set."""
        marker = "/data_docs/local_site/"
        if not self.docs_base_url or marker not in site_url:
            return site_url
        return f"{self.docs_base_url.rstrip('/')}/{site_url.split(marker, 1)[1]}"

    def suite_for_source(self, source: str, shape: str) -> str:
        """The source's own suite when it has one, else the default of its shape."""
        own = f"landing__{source}"
        return own if (Path(self.expectations_dir) / f"{own}.json").exists() else f"landing__{shape}"

    def _context(self, runtime_environment: dict[str, str]):
        import great_expectations as gx

        root = Path(self.root_dir)
        root.mkdir(parents=True, exist_ok=True)
        # The warehouse URL (with its password) reaches GX only as a runtime variable: never in the GX
        # project files it writes, never in this process's environment.
        context = gx.get_context(mode="file", project_root_dir=str(root), runtime_environment=runtime_environment)
        if context.config.analytics_enabled is not False:
            context.enable_analytics(False)  # no telemetry from a pipeline run
        context.variables.progress_bars = {"globally": False}
        return context

    def validate(self, warehouse: Warehouse, suite_name: str, relation: str, where: str, batch: str) -> SuiteOutcome:
        """Validate `select * from relation where <where>` against the suite; `batch` names the data asset.

        The suite's verdicts are computed in SQL first (`suite_sql`): a window they pass is reported with a link
        to the suite's page, without GX reading it (at 10M node runs, minutes of pandas frames on DuckDB; on
        PostgreSQL at 1M, the history's checks 53.1 s -> 39.5 s). GX validates a window they fail (on
        DuckDB slice by slice when it has more than slice_rows rows) and its verdict stands: its SQL engine
        ignores a compound key with a null in it, which the verdicts, like its pandas engine, count."""
        import json

        spec_path = Path(self.expectations_dir) / f"{suite_name}.json"
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        columns = _suite_columns(spec["expectations"])
        sql = f"select {columns} from {relation} where {where}"
        counts = suite_sql.unexpected_counts(warehouse, spec["expectations"], sql)
        if counts is not None and not any(counts):
            return SuiteOutcome(suite=suite_name, success=True, evaluated=len(counts),
                                docs_url=self._suite_page(spec, spec_path), validated_by=IN_SQL)  # fmt: skip
        return self._validate_with_gx(warehouse, suite_name, spec, batch, relation, where, columns, sql)

    def _suite_page(self, spec: dict[str, Any], spec_path: Path) -> str:
        """The suite's Data Docs page (what it expects), rendered again when the suite's file is newer."""
        page = self.docs_site() / "expectations" / f"{spec['name']}.html"
        if not page.is_file() or page.stat().st_mtime < spec_path.stat().st_mtime:
            from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

            context = self._context({_URL_VARIABLE: ""})
            _add_suite(context, spec)
            context.build_data_docs(resource_identifiers=[ExpectationSuiteIdentifier(name=spec["name"])])
        return self.served(page.as_uri())

    def _validate_with_gx(self, warehouse: Warehouse, suite_name: str, spec: dict[str, Any], batch: str,
                          relation: str, where: str, columns: str, sql: str) -> SuiteOutcome:  # fmt: skip
        """GX's validation of the window `sql` (the suite's `columns` of `relation where <where>`)."""
        import great_expectations as gx
        from great_expectations.checkpoint import UpdateDataDocsAction

        url = ""
        if warehouse.target == "postgres":
            url = (
                f"postgresql+psycopg2://{quote(warehouse.pg_user)}:{quote(warehouse.pg_password)}@{warehouse.pg_host}:"
                f"{warehouse.pg_port}/{warehouse.pg_database}?options={quote(pg_session_options())}"
            )
        context = self._context({_URL_VARIABLE: url})
        suite = _add_suite(context, spec)
        with ExitStack() as stack:
            if warehouse.target == "duckdb":
                source = context.data_sources.add_or_update_pandas("warehouse_duckdb")
                asset = _fresh_asset(source, batch, lambda: source.add_dataframe_asset(batch))
                definition = asset.add_batch_definition_whole_dataframe("window")
            else:
                source = context.data_sources.add_or_update_postgres(
                    "warehouse_postgres", connection_string="${" + _URL_VARIABLE + "}"
                )
                view = stack.enter_context(_window_view(warehouse, batch, sql))
                asset = _fresh_asset(source, batch, lambda: source.add_table_asset(
                    batch, table_name=view, schema_name=warehouse.checks_schema))  # fmt: skip
                definition = asset.add_batch_definition_whole_table("window")
            validation = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=f"{batch}__{suite_name}", data=definition, suite=suite)
            )

            def checkpoint(result_format: dict[str, Any]) -> Any:
                name = f"{batch}__{suite_name}" + ("" if result_format is _VERDICTS else "__details")
                return context.checkpoints.add_or_update(
                    gx.Checkpoint(name=name, validation_definitions=[validation],
                                  actions=[UpdateDataDocsAction(name="data_docs")], result_format=result_format)
                )  # fmt: skip

            if warehouse.target == "duckdb":
                # Slice by slice: a pandas frame holds one slice of the window, never all of it.
                runs = (_run(checkpoint, {"dataframe": warehouse.query(part)})
                        for part in self._slices(warehouse, sql, columns, relation, where, spec))  # fmt: skip
            else:
                runs = iter([_run(checkpoint, {})])
            return _merged([_outcome(context, suite_name, self.served, run) for run in runs])

    def _slices(
        self, warehouse: Warehouse, whole: str, columns: str, relation: str, where: str, spec: dict[str, Any]
    ) -> list[str]:
        """The window's query in slices of about slice_rows rows each: the rows whose slicing column hashes to
        the slice. That column is in every uniqueness key of the suite, so rows that could be duplicates meet
        in one slice, and the slices' verdicts add up to the window's."""
        column = slicing_column(spec)
        if column is None:
            return [whole]
        (rows,) = warehouse.execute(f"select count(*) from {relation} where {where}")[0]
        count = -(-int(rows) // self.slice_rows)
        if count <= 1:
            return [whole]
        return [f'select {columns} from {relation} where ({where}) and hash("{column}") % {count} = {i}'
                for i in range(count)]  # fmt: skip


# A validation asks first for each expectation's verdict only, and for the unexpected rows' count and sample
# values only when one fails: with those, GX on PostgreSQL ran a query of the unexpected values for every
# expectation, even a passing one (about half of a suite's time at 1M node runs).
_VERDICTS = {"result_format": "BOOLEAN_ONLY"}
_DETAILS = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_VALUES}


@contextmanager
def _window_view(warehouse: Warehouse, batch: str, sql: str) -> Iterator[str]:
    """PostgreSQL: the window as a view of its own for the validation's time, which GX reads as a table. Given
    the query itself, GX ran it whole once more only to learn its columns (5-6 s and every row fetched into
    this process, for a mart's window at 1M node runs)."""
    view = f"{batch}_{uuid.uuid4().hex[:12]}"
    qualified = f'{warehouse.checks_schema}."{view}"'
    _ensure_schema(warehouse, warehouse.checks_schema)
    warehouse.execute(f"create view {qualified} as {sql}")
    try:
        yield view
    finally:
        warehouse.execute(f"drop view if exists {qualified}")


def _ensure_schema(warehouse: Warehouse, schema: str) -> None:
    """Checks run side by side on PostgreSQL, and two `create schema if not exists` at once can both find no
    schema: the later fails on the catalogue's unique index. The schema being there is what counts."""
    try:
        warehouse.execute(f"create schema if not exists {schema}")
    except Exception:
        if not warehouse.execute("select 1 from information_schema.schemata where schema_name = %s", [schema]):
            raise


def _run(checkpoint: Any, batch_parameters: dict[str, Any]) -> Any:
    """A validation of the batch by `checkpoint(result_format)`: its verdicts, then, when one fails, again with
    the details of what failed (the run shown in the check and in Data Docs)."""
    run = checkpoint(_VERDICTS).run(batch_parameters=batch_parameters)
    if run.success:
        return run
    return checkpoint(_DETAILS).run(batch_parameters=batch_parameters)


def slicing_column(spec: dict[str, Any]) -> str | None:
    """The column a suite's window may be validated in slices by: the suite's `meta.slice_by` when set (a key
    another column is derived from: fct_node_runs' node_run_id hashes its work order, node and visit), else
    the last column of the first uniqueness key that every uniqueness key of the suite contains (the finest
    one, as keys list coarse to fine), else none: the window is validated whole."""
    declared = (spec.get("meta") or {}).get("slice_by")
    if declared:
        return declared
    keys = [
        [e["kwargs"]["column"]] if "column" in e["kwargs"] else list(e["kwargs"]["column_list"])
        for e in spec["expectations"]
        if e["type"] in _UNIQUENESS
    ]
    if not keys:
        return None
    common = [c for c in keys[0] if all(c in key for key in keys[1:])]
    return common[-1] if common else None


_UNIQUENESS = {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}


def _outcome(context: Any, suite_name: str, served: Any, run: Any) -> SuiteOutcome:
    (key, result), *_ = run.run_results.items()
    failed = []
    for r in result.results:
        if r.success:
            continue
        kwargs, found = r.expectation_config.kwargs, r.result or {}
        pair = [kwargs.get(c) for c in ("column_A", "column_B") if c in kwargs]
        failed.append({
            "expectation": r.expectation_config.type,
            "column": kwargs.get("column") or ", ".join(kwargs.get("column_list") or pair),
            "unexpected_count": found.get("unexpected_count"),
            "sample_values": ", ".join(map(str, (found.get("partial_unexpected_list") or [])[:SAMPLE_VALUES])),
        })  # fmt: skip
    urls = context.get_docs_sites_urls(resource_identifier=key)
    return SuiteOutcome(
        suite=suite_name,
        success=bool(result.success),
        evaluated=int(result.statistics["evaluated_expectations"]),
        failed=failed,
        docs_url=served(urls[0]["site_url"]) if urls else None,
    )


def _merged(outcomes: list[SuiteOutcome]) -> SuiteOutcome:
    """The window's outcome from its slices': an expectation fails when it failed in a slice, with the
    slices' unexpected rows added up and the first failed slice's sample values and Data Docs page."""
    if len(outcomes) == 1:
        return outcomes[0]
    failed: dict[tuple[str, str], dict[str, Any]] = {}
    for outcome in outcomes:
        for f in outcome.failed:
            seen = failed.setdefault((f["expectation"], f["column"]), {**f, "unexpected_count": 0})
            seen["unexpected_count"] += f["unexpected_count"] or 0
            seen["sample_values"] = seen["sample_values"] or f["sample_values"]
    shown = next((o for o in outcomes if not o.success), outcomes[-1])
    return SuiteOutcome(
        suite=shown.suite,
        success=all(o.success for o in outcomes),
        evaluated=outcomes[0].evaluated,
        failed=list(failed.values()),
        docs_url=shown.docs_url,
    )


def _suite_columns(expectations: list[dict[str, Any]]) -> str:
    """The columns the suite's expectations read, quoted, or `*` when one reads the whole row (a table-level
    expectation). Only those are fetched: on DuckDB the window becomes a pandas frame, and a mart's window with
    every column (node_run_states_daily at 1M node runs: 1.6M rows of 30 columns) was most of a run's memory."""
    columns: dict[str, None] = {}
    for expectation in expectations:
        kwargs = expectation["kwargs"]
        named = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] + kwargs.get("column_list", [])
        if not named:
            return "*"
        columns.update(dict.fromkeys(named))
    return ", ".join(f'"{c}"' for c in columns)


def _fresh_asset(source: Any, name: str, add: Any) -> Any:
    """Data assets carry the window's query: replace the previous run's."""
    if name in {a.name for a in source.assets}:
        source.delete_asset(name)
    return add()
