"""Small hand-written fleets whose every machine has a known fate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from local_stack.simulator.agents import UpgradeBehaviour
from local_stack.simulator.fleet import Fleet, Machine, Subscription

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SUB_A = "aaaaaaaa-0000-4000-8000-000000000001"
SUB_B = "bbbbbbbb-0000-4000-8000-000000000002"
SUB_FORBIDDEN = "cccccccc-0000-4000-8000-000000000003"  # readable, PATCH 403
SUB_UNREADABLE = "dddddddd-0000-4000-8000-000000000004"  # 403 on GET, invisible
SUB_DISABLED = "eeeeeeee-0000-4000-8000-000000000005"
NEW = "1.60.03293.809"


def machine_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HybridCompute/machines/{name}"


MIXED_FLEET_TO_ENABLE = {
    "enable-succeeds",
    "enable-missing-flag",
    "enable-recovers",
    "enable-stuck",
    "enable-then-disconnects",
    "enable-then-deleted",
    "locked",
    "enable-other-sub",
    "forbidden",
}
"""The machines of `mixed_fleet` a sweep of all its subscriptions sets out to enable (some refuse)."""


def mixed_fleet() -> Fleet:
    """One machine per interesting case; names say what each one is."""
    ok = dict(propagation_delay=timedelta(days=1), window_offset=timedelta(minutes=10))
    machines = [
        Machine.build(
            SUB_A,
            "rg-app",
            "enable-succeeds",
            agent_version=NEW,
            auto_upgrade=False,
            behaviour=UpgradeBehaviour("succeed", **ok),
        ),
        Machine.build(
            SUB_A,
            "rg-app",
            "enable-missing-flag",
            agent_version=NEW,
            auto_upgrade=None,
            behaviour=UpgradeBehaviour("succeed", **ok),
        ),
        Machine.build(
            SUB_A,
            "rg-app",
            "enable-recovers",
            agent_version=NEW,
            auto_upgrade=False,
            behaviour=UpgradeBehaviour("recover", failures=1, **ok),
        ),
        Machine.build(
            SUB_A,
            "rg-app",
            "enable-stuck",
            agent_version=NEW,
            auto_upgrade=False,
            behaviour=UpgradeBehaviour("stuck", **ok),
        ),
        Machine.build(
            SUB_A,
            "rg-app",
            "enable-then-disconnects",
            agent_version=NEW,
            auto_upgrade=False,
            behaviour=UpgradeBehaviour("succeed", propagation_delay=timedelta(days=5)),
            disconnect_at=START + timedelta(days=1),
        ),
        Machine.build(
            SUB_A,
            "rg-app",
            "enable-then-deleted",
            agent_version=NEW,
            auto_upgrade=False,
            behaviour=UpgradeBehaviour("succeed", propagation_delay=timedelta(days=5)),
            delete_at=START + timedelta(days=1),
        ),
        Machine.build(SUB_A, "rg-app", "compliant", agent_version="1.67.03504.1320", auto_upgrade=True),
        Machine.build(SUB_A, "rg-app", "too-old", agent_version="1.50.02910.100", auto_upgrade=False),
        Machine.build(SUB_A, "rg-app", "disconnected", agent_version=NEW, auto_upgrade=False, status="Disconnected"),
        Machine.build(SUB_A, "rg-app", "expired", agent_version=NEW, auto_upgrade=False, status="Expired"),
        Machine.build(SUB_A, "rg-app", "odd-status", agent_version=NEW, auto_upgrade=False, status="Provisioning"),
        Machine.build(SUB_A, "rg-app", "unknown-version", agent_version="garbage", auto_upgrade=False),
        Machine.build(SUB_A, "rg-app", "missing-version", agent_version=None, auto_upgrade=False),
        Machine.build(
            SUB_A, "rg-app", "excluded", agent_version=NEW, auto_upgrade=False, tags={"arc-sweeper": "exclude"}
        ),
        Machine.build(SUB_A, "rg-app", "locked", agent_version=NEW, auto_upgrade=False, locked=True),
        Machine.build(
            SUB_B,
            "rg-data",
            "enable-other-sub",
            agent_version=NEW,
            auto_upgrade=False,
            behaviour=UpgradeBehaviour("succeed", **ok),
        ),
        Machine.build(SUB_FORBIDDEN, "rg-x", "forbidden", agent_version=NEW, auto_upgrade=False),
        Machine.build(SUB_UNREADABLE, "rg-y", "invisible", agent_version=NEW, auto_upgrade=False),
        Machine.build(SUB_DISABLED, "rg-z", "in-disabled-sub", agent_version=NEW, auto_upgrade=False),
    ]
    subscriptions = [
        Subscription(SUB_A, "App"),
        Subscription(SUB_B, "Data"),
        Subscription(SUB_FORBIDDEN, "Forbidden", writable=False),
        Subscription(SUB_UNREADABLE, "Unreadable", readable=False),
        Subscription(SUB_DISABLED, "Disabled", state="Disabled"),
    ]
    return Fleet(subscriptions, machines, created_at=START)
