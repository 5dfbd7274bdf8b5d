{#- Whether a run `r` (of fct_node_runs, or of int_node_runs__sequenced, which keeps its open_until) is in scope
    of a period `p` (evaluated_periods): open at some moment of the period, i.e. started before as_of, and
    neither ended nor cancelled before the period started (open_until = the earlier of the two, far future while
    open). One rule for node_run_states_* and the work orders of work_order_status_*. -#}
{% macro run_in_scope(r, p) -%}
    {{ r }}.open_until >= {{ p }}.period_start
        and {{ r }}.start_at < {{ p }}.as_of
{%- endmacro %}
