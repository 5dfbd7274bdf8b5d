select
    cast(period_id as {{ dbt.type_string() }}) as period_id,
    cast(period_grain as {{ dbt.type_string() }}) as period_grain,
    cast(period_start_date as date) as period_start_date,
    cast(period_start as {{ dbt.type_timestamp() }}) as period_start,
    cast(period_end as {{ dbt.type_timestamp() }}) as period_end,
    cast(period_label as {{ dbt.type_string() }}) as period_label,
    cast(time_zone as {{ dbt.type_string() }}) as time_zone
from {{ source('landing', 'business_periods') }}
