"""Data quality: reconciliation of what was received, landed and quarantined; the blocking asset
checks built on it; the operator's per-partition summary and command (python -m orchestration.quality)."""
