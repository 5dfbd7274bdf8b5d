-- MetricFlow's time spine: one row per local business day the periods table covers.
select {{ typed('period_start_date', 'date') }} as date_day
from {{ ref('dim_periods') }}
where period_grain = 'day'
