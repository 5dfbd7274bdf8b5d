-- depends_on: {{ source('landing', 'interval_runs') }}
-- Interval rows are node runs already; this narrows them to the work orders being rebuilt.
select
    source_system,
    work_order_id,
    process_code,
    node_code,
    segment,
    department,
    position,
    start_at,
    end_at,
    cancelled_at
from {{ ref('stg_landing__interval_runs') }}
where 1 = 1 {{ changed_work_orders_filter() }}
