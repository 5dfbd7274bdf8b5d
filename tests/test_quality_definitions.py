"""What the Dagster UI shows of the quality gates: blocking checks on every extraction asset (freshness
on the live feeds), dbt's error-severity tests as blocking checks, a GX check on the base table and
every mart; the GX checks can be switched off."""

from __future__ import annotations

from dagster import AssetCheckKey, AssetKey

from orchestration.definitions import build_defs
from orchestration.quality.checks import GX_LANDING, QUARANTINE_SHARE, ROWS_RECONCILE
from orchestration.quality.freshness import SOURCE_FRESHNESS
from orchestration.quality.model_checks import GX_CHECK
from tests.conftest import project_settings

MODELS = ["fct_node_runs"] + [
    f"{mart}_{grain}"
    for mart in ("node_run_states", "work_order_status", "achievement_rates")
    for grain in ("daily", "weekly", "monthly")
]


def _checks(defs) -> dict[AssetCheckKey, object]:
    graph = defs.resolve_asset_graph()
    return {key: graph.get_check_spec(key) for key in graph.asset_check_keys}


def test_every_stage_has_its_checks() -> None:
    checks = _checks(build_defs(project_settings()))
    for source in ("oa_workflow", "settlement_files", "ticket_api", "helpdesk"):
        for name in (ROWS_RECONCILE, QUARANTINE_SHARE, GX_LANDING):
            assert checks[AssetCheckKey(AssetKey(["landing", source]), name)].blocking, (source, name)
    # Live feeds are checked for freshness; the help-desk log is a closed export (freshness: off).
    for source in ("oa_workflow", "settlement_files", "ticket_api"):
        assert checks[AssetCheckKey(AssetKey(["landing", source]), SOURCE_FRESHNESS)].blocking
    assert AssetCheckKey(AssetKey(["landing", "helpdesk"]), SOURCE_FRESHNESS) not in checks
    for model in MODELS:
        assert AssetCheckKey(AssetKey(model), GX_CHECK) in checks
    dbt_tests = {key.name: spec for key, spec in checks.items() if key.asset_key == AssetKey("achievement_rates_daily")}
    reconcile = [spec for name, spec in dbt_tests.items() if name.startswith("runs_reconcile_with_base")]
    assert len(reconcile) == 1 and reconcile[0].blocking
    states = {key.name: spec for key, spec in checks.items() if key.asset_key == AssetKey("node_run_states_weekly")}
    assert any(n.startswith("accepted_values") and s.blocking for n, s in states.items())
    assert any(n.startswith("relationships") and "commitment_version_id" in n for n in states)


def test_gx_checks_can_be_switched_off() -> None:
    checks = _checks(build_defs(project_settings(COMMITMENTS_GX_CHECKS="false")))
    assert not [key for key in checks if key.name in (GX_CHECK, GX_LANDING)]
    assert AssetCheckKey(AssetKey(["landing", "ticket_api"]), QUARANTINE_SHARE) in checks
