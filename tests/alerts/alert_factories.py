"""Run reports to build alerts from (imported by the tests in this folder)."""

from __future__ import annotations

from typing import Any

from arc_sweeper.reporting.attention import AttentionItem
from arc_sweeper.reporting.report import RunReport

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"


def machine_id(name: str, subscription: str = SUBSCRIPTION) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/rg-arc/providers/Microsoft.HybridCompute/machines/{name}"


def attention(kind: str, name: str = "srv-01", **fields: str) -> AttentionItem:
    return AttentionItem(kind=kind, resource_id=machine_id(name), subscription_id=SUBSCRIPTION, name=name, **fields)


def report(**changes: Any) -> RunReport:
    """A completed daily run with nothing wrong, changed by keyword."""
    values: dict[str, Any] = dict(
        run_id="sweep-20260701T033000Z",
        trigger="timer",
        dry_run=False,
        scope=(),
        status="completed",
        started_at="2026-07-01T03:30:00Z",
        ended_at="2026-07-01T03:41:12Z",
        subscriptions_in_scope=3,
        machines_seen=120,
        finding_counts={"compliant": 100, "auto_upgrade_off": 20},
        action_counts={"enable_auto_upgrade": 20, "none": 100},
        result_counts={"enabled": 20},
    )
    values.update(changes)
    return RunReport(**values)
