select
    cast(process_code as {{ dbt.type_string() }}) as process_code,
    cast(node_code as {{ dbt.type_string() }}) as node_code,
    cast(node_name as {{ dbt.type_string() }}) as node_name,
    cast(node_order as {{ dbt.type_int() }}) as node_order,
    cast(department as {{ dbt.type_string() }}) as department,
    cast(position as {{ dbt.type_string() }}) as position,
    cast(node_name_en as {{ dbt.type_string() }}) as node_name_en
from {{ source('landing', 'nodes') }}
