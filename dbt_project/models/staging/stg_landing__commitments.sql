select
    cast(commitment_version_id as {{ dbt.type_string() }}) as commitment_version_id,
    cast(process_code as {{ dbt.type_string() }}) as process_code,
    cast(node_code as {{ dbt.type_string() }}) as node_code,
    cast(segment as {{ dbt.type_string() }}) as segment,
    cast(commitment_seconds as {{ dbt.type_bigint() }}) as commitment_seconds,
    cast(tolerance_seconds as {{ dbt.type_bigint() }}) as tolerance_seconds,
    cast(valid_from as {{ dbt.type_timestamp() }}) as valid_from,
    cast(valid_to as {{ dbt.type_timestamp() }}) as valid_to,
    cast(clock as {{ dbt.type_string() }}) as clock,
    cast(department as {{ dbt.type_string() }}) as department,
    cast(position as {{ dbt.type_string() }}) as position
from {{ source('landing', 'commitments') }}
