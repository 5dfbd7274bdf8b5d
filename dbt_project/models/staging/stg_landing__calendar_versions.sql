select
    cast(calendar_version_id as {{ dbt.type_string() }}) as calendar_version_id,
    cast(calendar_name as {{ dbt.type_string() }}) as calendar_name,
    cast(time_zone as {{ dbt.type_string() }}) as time_zone,
    cast(nominal_day_seconds as {{ dbt.type_bigint() }}) as nominal_day_seconds,
    cast(valid_from as {{ dbt.type_timestamp() }}) as valid_from,
    cast(valid_to as {{ dbt.type_timestamp() }}) as valid_to,
    cast(covered_until as date) as covered_until
from {{ source('landing', 'calendar_versions') }}
