-- Published reference table: which calendar version measures a run (the one in force at its start).
select * from {{ ref('stg_landing__calendar_versions') }}
