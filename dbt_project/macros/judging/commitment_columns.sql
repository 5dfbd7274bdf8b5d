{#- The columns of the commitment join_commitment_in_force() found: the own segment's version wins. -#}
{% macro commitment_columns(prefix='') -%}
        coalesce(own.commitment_version_id, fallback.commitment_version_id) as {{ prefix }}commitment_version_id,
        coalesce(own.commitment_seconds, fallback.commitment_seconds) as {{ prefix }}commitment_seconds,
        coalesce(own.tolerance_seconds, fallback.tolerance_seconds) as {{ prefix }}tolerance_seconds,
        coalesce(own.clock, fallback.clock) as clock
{%- endmacro %}
