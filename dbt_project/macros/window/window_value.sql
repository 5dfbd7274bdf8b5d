{#-
  One value of a run's window: `--vars` when given (the live evaluation's in-process dbt, tests), else the
  environment variable COMMITMENTS_DBT_<NAME> (the partitioned assets, orchestration/assets/dbt.py).
  Read only while executing: a change of --vars, or of an environment variable read while parsing, makes
  dbt re-parse the whole project (seconds per invocation); a value read at execution leaves the partial
  parse valid. While parsing it is unset, which no model's parse depends on.
-#}
{% macro window_value(name) -%}
    {%- if var(name, none) is not none -%}
        {{ return(var(name)) }}
    {%- endif -%}
    {%- if execute -%}
        {{ return(env_var('COMMITMENTS_DBT_' ~ (name | upper), '') or none) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
