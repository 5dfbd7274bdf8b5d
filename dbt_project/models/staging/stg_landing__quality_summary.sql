select
    cast(source_system as {{ dbt.type_string() }}) as source_system,
    cast(partition_date as date) as partition_date,
    cast(checked_at as {{ dbt.type_timestamp() }}) as checked_at,
    cast(quarantined_share as {{ type_double() }}) as quarantined_share,
    cast(quarantine_limit as {{ type_double() }}) as quarantine_limit,
    cast(checks_passed as {{ dbt.type_bigint() }}) as checks_passed,
    cast(checks_failed as {{ dbt.type_bigint() }}) as checks_failed,
    cast(failed_checks as {{ dbt.type_string() }}) as failed_checks,
    cast(blocking_failures as {{ dbt.type_string() }}) as blocking_failures
from {{ source('landing', 'quality_summary') }}
