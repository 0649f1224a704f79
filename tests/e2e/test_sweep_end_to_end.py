"""The whole product on one machine: timer -> orchestrations -> simulator + Azurite -> alerts."""

from __future__ import annotations

import json
import logging
import os

from arc_sweeper.records import MachineRecord
from arc_sweeper.tables import SweepStore
from tests.e2e.fleets import (
    MIXED_FLEET_TO_ENABLE,
    SUB_A,
    SUB_B,
    SUB_DISABLED,
    SUB_FORBIDDEN,
    SUB_UNREADABLE,
    mixed_fleet,
)

ALLOW = ",".join([SUB_A, SUB_B, SUB_FORBIDDEN, SUB_UNREADABLE, SUB_DISABLED])


def rows_by_name(store: SweepStore, run_id: str) -> dict[str, MachineRecord]:
    return {r.name: r for r in store.all_machines(run_id)}


def test_daily_sweep_classifies_enables_and_follows_up(make_stack, caplog):
    caplog.set_level(logging.INFO, logger="arc_sweeper")
    stack, sim, receiver = make_stack(mixed_fleet(), env={"SUBSCRIPTION_ALLOW_LIST": ALLOW})
    stack.fire_timer()
    run_id = next(i.instance_id for i in stack.host.instances() if i.name == "sweep_orchestrator")
    assert run_id.startswith("daily-")
    final = stack.run_to_completion(run_id)
    assert final.runtime_status == "Completed", final.error

    store = SweepStore.from_connection_string(stack.storage_connection, os.environ["TABLE_PREFIX"])
    rows = rows_by_name(store, run_id)

    # Discovery: the unreadable subscription is invisible; the disabled one is skipped.
    assert "invisible" not in rows and "in-disabled-sub" not in rows
    subscriptions = {s.subscription_id: s for s in store.subscriptions(run_id)}
    assert not subscriptions[SUB_UNREADABLE].in_scope
    assert "AuthorizationFailed" in subscriptions[SUB_UNREADABLE].skip_reason
    assert subscriptions[SUB_DISABLED].skip_reason == "subscription state is Disabled: it takes no writes"

    # Findings and actions.
    assert rows["compliant"].findings == ("compliant",) and rows["compliant"].action == "none"
    assert rows["too-old"].action == "manual_upgrade"
    assert "too_old_for_auto_upgrade" in rows["too-old"].findings
    assert rows["disconnected"].action == "none" and "not_connected" in rows["disconnected"].findings
    assert rows["expired"].findings == ("auto_upgrade_off", "expired")
    assert "not_connected" in rows["odd-status"].findings and rows["odd-status"].connection_status == "Provisioning"
    assert "unknown_version" in rows["unknown-version"].findings
    assert rows["unknown-version"].agent_version_seen == "garbage"
    assert rows["missing-version"].agent_version_seen == "" and rows["missing-version"].action == "none"
    assert "excluded" in rows["excluded"].findings and rows["excluded"].action == "none"
    assert rows["enable-missing-flag"].auto_upgrade_before == "missing"

    # Exactly one PATCH per machine to enable, with exactly the documented body.
    patched = [r for r in sim.requests if r.method == "PATCH"]
    to_enable = {n for n, r in rows.items() if r.action == "enable_auto_upgrade"}
    assert to_enable == MIXED_FLEET_TO_ENABLE
    assert sorted(r.path.rsplit("/", 1)[-1] for r in patched) == sorted(to_enable)
    assert all(r.body == {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}} for r in patched)
    assert all(r.query.get("api-version") == "2025-01-13" for r in patched)

    # Refusals recorded per machine, never stopping the others.
    assert (rows["locked"].action_result, rows["locked"].arm_http_status, rows["locked"].arm_error_code) == (
        "failed",
        409,
        "ScopeLocked",
    )
    assert (rows["forbidden"].action_result, rows["forbidden"].arm_error_code) == ("failed", "AuthorizationFailed")
    assert rows["forbidden"].arm_error_message

    # Follow-up over virtual days.
    assert rows["enable-succeeds"].outcome == "upgraded"
    assert rows["enable-succeeds"].agent_version_now == "1.67.03504.1320"
    assert rows["enable-other-sub"].outcome == "upgraded"
    assert (rows["enable-recovers"].outcome, rows["enable-recovers"].recovered) == ("upgraded", True)
    assert rows["enable-stuck"].outcome == "stuck" and rows["enable-stuck"].failed_since
    assert "himds" in rows["enable-stuck"].outcome_detail
    assert rows["enable-then-disconnects"].outcome == "disconnected"
    assert rows["enable-then-disconnects"].disconnected_since
    assert rows["enable-then-deleted"].outcome == "gone"

    run = store.get_run(run_id)
    assert (run.status, run.phase, run.trigger, run.dry_run) == ("completed", "done", "timer", False)
    assert run.cohort_size == 7
    assert run.result_counts == {"enabled": 7, "failed": 2}
    assert run.outcome_counts == {"upgraded": 4, "stuck": 1, "disconnected": 1, "gone": 1}
    assert run.finding_counts["compliant"] == 1
    assert run.subscriptions_in_scope == 3 and run.subscriptions_skipped == 2

    # The fleet table remembers each machine across runs.
    fleet = store.fleet(SUB_A)
    stuck = next(f for f in fleet.values() if f.name == "enable-stuck")
    assert stuck.last_outcome == "stuck" and stuck.failing_since
    assert next(f for f in fleet.values() if f.name == "compliant").first_noncompliant_at == ""

    # Alerts: the day's digest, then the cohort's outcome; both delivered and recorded.
    kinds = [p["kind"] for p in receiver.payloads]
    assert kinds == ["sweep_completed", "follow_up_completed"]
    assert run.alerts["sweep_completed"].startswith("delivered")
    assert receiver.payloads[1]["severity"] == "error"  # a stuck upgrade and refused PATCHes
    secret = receiver.url.split("?", 1)[1]
    assert secret not in json.dumps(run.__dict__, default=str)

    # One summary line per phase for the Functions logs, a warning since machines need a person.
    summaries = [
        r
        for r in caplog.records
        if r.name == "arc_sweeper.steps.closing" and run_id in r.getMessage() and " done: " in r.getMessage()
    ]
    assert [(r.levelname, r.getMessage().split(":")[0]) for r in summaries] == [
        ("WARNING", f"run {run_id} sweep done"),
        ("WARNING", f"run {run_id} follow-up done"),
    ]

    # History stays bounded: follow-up continued as new instead of growing.
    for info in stack.host.instances():
        assert info.max_history_length < 400, (info.instance_id, info.max_history_length)


def test_odd_rows_from_resource_graph_are_recorded_never_patched(make_stack, monkeypatch):
    """A row without a recognisable machine id (or with junk in every field) never crashes nor gets a PATCH."""
    from arc_sweeper.machine import MachineSnapshot
    from arc_sweeper.resource_graph import ResourceGraph

    stack, sim, receiver = make_stack(mixed_fleet(), env={"SUBSCRIPTION_ALLOW_LIST": SUB_B})
    real = ResourceGraph.find_machines

    def with_junk(self, subscription_ids, gate=None):
        yield from real(self, subscription_ids, gate)
        yield MachineSnapshot(
            id="",
            name="",
            subscription_id=SUB_B,
            resource_group="",
            status="Connected",
            agent_version="1.60.0.0",
            auto_upgrade=None,
        )

    monkeypatch.setattr(ResourceGraph, "find_machines", with_junk)
    stack.fire_timer()
    run_id = next(i.instance_id for i in stack.host.instances() if i.name == "sweep_orchestrator")
    assert stack.run_to_completion(run_id).runtime_status == "Completed"
    rows = list(
        SweepStore.from_connection_string(stack.storage_connection, os.environ["TABLE_PREFIX"]).all_machines(run_id)
    )
    junk = [r for r in rows if r.resource_id == ""]
    assert len(junk) == 1 and junk[0].action == "none" and junk[0].findings == ("auto_upgrade_off", "unrecognised_id")
    assert [r.path.rsplit("/", 1)[-1] for r in sim.patches()] == ["enable-other-sub"]
