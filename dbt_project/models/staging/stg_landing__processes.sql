select
    cast(process_code as {{ dbt.type_string() }}) as process_code,
    cast(process_name as {{ dbt.type_string() }}) as process_name,
    cast(owner_department as {{ dbt.type_string() }}) as owner_department,
    cast(process_name_en as {{ dbt.type_string() }}) as process_name_en
from {{ source('landing', 'processes') }}
