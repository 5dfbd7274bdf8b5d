-- Counts only: the quarantine keeps raw source rows, which must not reach the schemas readers are granted.
select
    cast(source_system as {{ dbt.type_string() }}) as source_system,
    cast(partition_date as date) as partition_date,
    cast(reason_code as {{ dbt.type_string() }}) as reason_code,
    cast(count(*) as {{ dbt.type_bigint() }}) as rows_quarantined
from {{ source('landing', 'quarantine') }}
group by source_system, partition_date, reason_code
