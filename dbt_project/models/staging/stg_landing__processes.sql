select
    cast(process_code as {{ dbt.type_string() }}) as process_code,
    cast(process_name as {{ dbt.type_string() }}) as process_name,
    cast(owner_department as {{ dbt.type_string() }}) as owner_department,
    cast(calibration_normal_target as {{ type_double() }}) as calibration_normal_target,
    cast(calibration_tolerance_target as {{ type_double() }}) as calibration_tolerance_target,
    cast(calibration_min_runs as {{ dbt.type_bigint() }}) as calibration_min_runs,
    cast(process_name_en as {{ dbt.type_string() }}) as process_name_en
from {{ source('landing', 'processes') }}
