{#-
  Data quality per source and business date for BI tools and the dashboard. Per source and date, one row
  with reason_code null holds the totals (received, accepted, quarantined) and the checks of the latest
  run; one row per reason code holds the rows quarantined for that reason (received and accepted null).
-#}
with totals as (
    select
        e.source_system,
        e.partition_date,
        {{ typed('null', 'string') }} as reason_code,
        e.rows_received,
        e.rows_accepted,
        e.rows_quarantined,
        e.extracted_at,
        q.checked_at,
        q.quarantined_share,
        q.quarantine_limit,
        q.checks_passed,
        q.checks_failed,
        q.failed_checks,
        q.blocking_failures
    from {{ ref('stg_landing__extraction_log') }} as e
    left join {{ ref('stg_landing__quality_summary') }} as q
        on e.source_system = q.source_system and e.partition_date = q.partition_date
),

by_reason as (
    select
        r.source_system,
        r.partition_date,
        r.reason_code,
        {{ typed('null', 'bigint') }} as rows_received,
        {{ typed('null', 'bigint') }} as rows_accepted,
        r.rows_quarantined,
        {{ typed('null', 'timestamp') }} as extracted_at,
        {{ typed('null', 'timestamp') }} as checked_at,
        {{ typed('null', 'double') }} as quarantined_share,
        {{ typed('null', 'double') }} as quarantine_limit,
        {{ typed('null', 'bigint') }} as checks_passed,
        {{ typed('null', 'bigint') }} as checks_failed,
        {{ typed('null', 'string') }} as failed_checks,
        {{ typed('null', 'string') }} as blocking_failures
    from {{ ref('stg_landing__quarantine_reasons') }} as r
),

unioned as (
    select * from totals
    union all
    select * from by_reason
)

select
    {%- set key = ["source_system", "'|'", typed("partition_date", "string"), "'|'", "coalesce(reason_code, '(total)')"] %}
    {{ typed(dbt.concat(key), 'string') }} as data_quality_id,
    {{ typed('source_system', 'string') }} as source,
    {{ typed('partition_date', 'date') }} as business_date,
    {{ typed('reason_code', 'string') }} as reason_code,
    {{ typed('rows_received', 'bigint') }} as received_rows,
    {{ typed('rows_accepted', 'bigint') }} as accepted_rows,
    {{ typed('rows_quarantined', 'bigint') }} as quarantined_rows,
    {{ typed('quarantined_share', 'double') }} as quarantined_share,
    {{ typed('quarantine_limit', 'double') }} as quarantine_limit,
    {{ typed('extracted_at', 'timestamp') }} as extracted_at_utc,
    {{ typed('checked_at', 'timestamp') }} as checked_at_utc,
    {{ typed('checks_passed', 'bigint') }} as checks_passed,
    {{ typed('checks_failed', 'bigint') }} as checks_failed,
    {{ typed('failed_checks', 'string') }} as failed_checks,
    {{ typed('blocking_failures', 'string') }} as blocking_failures
from unioned
