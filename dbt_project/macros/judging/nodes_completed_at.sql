{#-
  How many distinct nodes of a work order are completed at an instant `at`: a node is, when one of its runs is
  (SEMANTICS.md "State as of an instant T"). Used by work_order_status (macros/marts/work_order_status.sql) as
  plain sums over a period's rows, from columns int_node_runs__sequenced keeps: no count(distinct), whose
  sort per group was that body's cost on PostgreSQL.

  A run is completed at T (run_status_at) when it started and ended before T and was not cancelled before T:
  for T in (completed_from, completed_until], from the later of its start and end to its cancellation (none:
  for ever); empty when cancelled by then. The intervals of one node's runs are merged into islands, disjoint,
  so the node is completed at T when exactly one island holds T, and the count at T is
      (islands starting before T) - (islands ending before T)
  marked on the runs that start and end an island, from windows over the node's runs in interval order:
    completion_interval(r)        completed_from, completed_until: the run's own interval
    node_completion_islands(r)    windows over those (a select over a select that has them)
    nodes_completed_at(r, at)     the sum, for an aggregate over the runs `r` that started before `at`
  An island ending before T ends with runs that all started before T, so those rows are all in the sum.
-#}
{% macro completion_interval(r) -%}
            case
                when {{ r }}.end_at is not null
                    and ({{ r }}.cancelled_at is null or {{ r }}.cancelled_at > {{ completed_from_instant(r) }})
                    then {{ completed_from_instant(r) }}
            end as completed_from,
            {{ r }}.cancelled_at as completed_until
{%- endmacro %}

{% macro completed_from_instant(r) -%}
    case when {{ r }}.end_at < {{ r }}.start_at then {{ r }}.start_at else {{ r }}.end_at end
{%- endmacro %}

{% macro node_completion_islands(r) -%}
    {%- set by_interval = 'partition by ' ~ r ~ '.work_order_id, ' ~ r ~ '.node_code order by '
        ~ 'case when ' ~ r ~ '.completed_from is null then 1 else 0 end, ' ~ r ~ '.completed_from, ' ~ r ~ '.visit' -%}
    {%- set counted_until = 'case when ' ~ r ~ '.completed_from is not null then ' ~ r ~ '.completed_until end' -%}
    {%- set counted_open = 'case when ' ~ r ~ '.completed_from is not null and ' ~ r ~ '.completed_until is null then 1 else 0 end' -%}
        max({{ counted_open }}) over ({{ by_interval }} rows between unbounded preceding and 1 preceding) as earlier_open,
        max({{ counted_until }}) over ({{ by_interval }} rows between unbounded preceding and 1 preceding) as earlier_until,
        max({{ counted_open }}) over ({{ by_interval }} rows between unbounded preceding and current row) as island_open,
        max({{ counted_until }}) over ({{ by_interval }} rows between unbounded preceding and current row) as island_until,
        lead({{ r }}.completed_from) over ({{ by_interval }}) as next_completed_from
{%- endmacro %}

{% macro nodes_completed_at(r, at) -%}
    sum(case
            when {{ r }}.completed_from < {{ at }}
                and coalesce({{ r }}.earlier_open, 0) = 0
                and ({{ r }}.earlier_until is null or {{ r }}.completed_from >= {{ r }}.earlier_until)
                then 1 else 0
        end)
    - sum(case
            when {{ r }}.completed_from is not null
                and {{ r }}.island_open = 0
                and {{ r }}.island_until < {{ at }}
                and ({{ r }}.next_completed_from is null or {{ r }}.next_completed_from >= {{ r }}.island_until)
                then 1 else 0
        end)
{%- endmacro %}
