"""Where the warehouse's relations live, on DuckDB and PostgreSQL: the marts in the target schema, the
staging views (which read landing with their owner's rights) in `<schema>_staging`, the landing tables
in `<schema>_landing`, so that readers granted the marts' schema see neither landing nor staging. And the
names from configuration that reach SQL are identifiers or bound parameters, never pasted text.
(WAREHOUSE_SCHEMA itself is validated when the settings load, where the settings are tested.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import publish_reference, warehouse_of_env


@pytest.fixture(scope="module")
def relations(module_pipeline_env: Path) -> Iterator[pd.DataFrame]:
    publish_reference()
    warehouse = warehouse_of_env()
    schemas = (warehouse.schema_name, warehouse.staging_schema, warehouse.landing_schema)
    yield warehouse.query(
        f"select table_schema, table_name, table_type from information_schema.tables where table_schema in {schemas}"
    )


def test_staging_views_live_in_their_own_schema(relations: pd.DataFrame) -> None:
    warehouse = warehouse_of_env()
    by_schema = relations.groupby("table_schema").table_name.apply(set)
    staging = by_schema[warehouse.staging_schema]
    assert staging and all(name.startswith("stg_landing__") for name in staging)
    assert {"stg_landing__processes", "stg_landing__commitments", "stg_landing__status_events"} <= staging
    assert set(relations[relations.table_schema == warehouse.staging_schema].table_type) == {"VIEW"}
    # The marts' schema holds the dimensions and no staging view; landing holds no dbt relation.
    marts = by_schema[warehouse.schema_name]
    assert {"dim_processes", "dim_commitments", "dim_periods"} <= marts
    assert not any(name.startswith("stg_") for name in marts | by_schema[warehouse.landing_schema])


# --- identifiers from configuration ------------------------------------------------------------------


def test_source_name_that_is_not_an_identifier_is_refused_at_load(tmp_path: Path) -> None:
    """A source's name reaches SQL (every landing query filters on it) and Dagster asset keys: a name
    that is not lower_snake_case fails the declaration's load, naming the file and the field."""
    from orchestration.sources.config import SourceConfigError, load_source
    from tests.conftest import CONFIG_DIR, settings_of_env

    declaration = yaml.safe_load((CONFIG_DIR / "sources" / "ticket_api.yaml").read_text(encoding="utf-8"))
    declaration["name"] = "tickets'; drop table fct_node_runs; --"
    path = tmp_path / "ticket_api.yaml"
    path.write_text(yaml.safe_dump(declaration, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SourceConfigError) as caught:
        load_source(path, settings_of_env())
    assert str(path) in str(caught.value) and "name" in str(caught.value)


def test_table_lookup_binds_its_names(relations: pd.DataFrame) -> None:
    warehouse = warehouse_of_env()
    assert warehouse.table_exists(warehouse.landing_schema, "quarantine")
    assert not warehouse.table_exists(warehouse.landing_schema, "nothing' or '1' = '1")
    assert not warehouse.table_exists("x' or '1' = '1", "quarantine")
