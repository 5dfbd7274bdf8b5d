-- One row per source and day partition: each extraction replaces its partitions' row (quality/gate.py).
select
    cast(source_system as {{ dbt.type_string() }}) as source_system,
    cast(partition_date as date) as partition_date,
    cast(extracted_at as {{ dbt.type_timestamp() }}) as extracted_at,
    cast(rows_received as {{ dbt.type_bigint() }}) as rows_received,
    cast(rows_accepted as {{ dbt.type_bigint() }}) as rows_accepted,
    cast(rows_quarantined as {{ dbt.type_bigint() }}) as rows_quarantined
from {{ source('landing', 'extraction_log') }}
