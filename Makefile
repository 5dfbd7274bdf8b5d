# Two commands for a new user: `make demo` (set up, run the main job on DuckDB) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Dagster hands a run's per-partition events to the storage in batches (orchestration/event_log.py, README).
export DAGSTER_EVENT_BATCH_SIZE ?= 100000

.PHONY: setup demo demo-postgres test lint dev dashboard benchmark monitoring-demo clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/commitments demo

# The demo on the development PostgreSQL server, named in full: the pipeline has no default connection.
demo-postgres: setup
	WAREHOUSE_TARGET=postgres PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres PGDATABASE=test $(BIN)/python -m demo.main

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	# One process per core (--processes 0): 43 -> 24 s on two cores.
	WAREHOUSE_DUCKDB_PATH=$(CURDIR)/.lint.duckdb $(BIN)/sqlfluff lint --processes 0 dbt_project/models

# Two workers, one per core; a unit of work is a test module on one warehouse, heavy modules first (tests/conftest.py).
test: lint
	$(BIN)/python -m pytest -n 2 --dist loadscope --no-loadscope-reorder

# The Dagster UI over the demo sources (run `make demo` once first): serves the demo ticket API too, and
# the Great Expectations Data Docs at http://127.0.0.1:8766, where the checks' links point.
# Partitions start with the demo's first day (its 62 days and a little more), not history_start.
DEMO_FIRST_DAY = $(shell $(BIN)/python -c "import datetime as d; print(d.date.today() - d.timedelta(days=70))" 2>/dev/null)
dev: setup
	mkdir -p $(DAGSTER_HOME) && cp -n deploy/dagster.yaml $(DAGSTER_HOME)/ || true
	mkdir -p data/gx/gx/uncommitted/data_docs/local_site
	$(BIN)/python -m demo.ticket_api_server --store data/sources/ticket_events.jsonl --port 8765 & \
	$(BIN)/python -m http.server 8766 --bind 127.0.0.1 --directory data/gx/gx/uncommitted/data_docs/local_site \
		>/dev/null 2>&1 & \
	OA_DB_URL=sqlite:///$(CURDIR)/data/sources/oa_workflow.sqlite TICKET_API_URL=http://127.0.0.1:8765 \
	COMMITMENTS_GX_DOCS_URL=http://127.0.0.1:8766 \
	COMMITMENTS_PARTITIONS_START=$${COMMITMENTS_PARTITIONS_START:-$(DEMO_FIRST_DAY)} \
	$(BIN)/dagster dev -w workspace.yaml

# The dashboard over the demo warehouse (run `make demo` once first): http://127.0.0.1:8050/, read-only.
dashboard: setup
	$(BIN)/commitments dashboard

benchmark: setup
	$(BIN)/commitments benchmark pipeline

# Live monitoring: alerts arrive at a local webhook receiver as the demo generator advances time.
monitoring-demo: setup
	$(BIN)/commitments monitoring-demo

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
