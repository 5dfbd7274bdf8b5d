-- Published reference table for BI tools and the period models.
select * from {{ ref('stg_landing__commitments') }}
