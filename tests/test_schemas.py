"""Where the warehouse's relations live, on DuckDB and PostgreSQL: the marts in the target schema, the
staging views (which read landing with their owner's rights) in `<schema>_staging`, the landing tables
in `<schema>_landing`, so that readers granted the marts' schema see neither landing nor staging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import publish_reference, warehouse_of_env


@pytest.fixture(scope="module")
def relations(module_pipeline_env: Path) -> Iterator[pd.DataFrame]:
    publish_reference()
    warehouse = warehouse_of_env()
    schemas = (warehouse.schema_name, warehouse.staging_schema, warehouse.landing_schema)
    yield warehouse.query(
        "select table_schema, table_name, table_type from information_schema.tables "
        f"where table_schema in {schemas}"
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
