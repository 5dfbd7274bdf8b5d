"""What readers get: the read-only DuckDB snapshot published after every job (`snapshot.py`) and the
read-only PostgreSQL role for BI tools (`access.py`). The reporting views themselves are dbt models
(dbt_project/models/reporting); `views.py` tells whether they must be rebuilt."""
