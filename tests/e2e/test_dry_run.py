"""Dry run, by app setting and per request: classify and report everything, write nothing."""

from __future__ import annotations

from tests.e2e.fleets import (
    MIXED_FLEET_TO_ENABLE,
    SUB_A,
    SUB_B,
    SUB_DISABLED,
    SUB_FORBIDDEN,
    SUB_UNREADABLE,
    mixed_fleet,
)
from tests.e2e.support import body, machine_name, simple_fleet, store_of

ALLOW = ",".join([SUB_A, SUB_B, SUB_FORBIDDEN, SUB_UNREADABLE, SUB_DISABLED])


def assert_dry(stack, sim, receiver, run_id: str, would_enable: set[str]) -> None:
    final = stack.run_to_completion(run_id)
    assert final.runtime_status == "Completed", final.error
    assert [r for r in sim.requests if r.method != "GET" and "resourcegraph" not in r.path.lower()] == []
    assert sim.changes == []

    store = store_of(stack)
    rows = {r.name: r for r in store.all_machines(run_id)}
    enable_rows = {n: r for n, r in rows.items() if r.action == "enable_auto_upgrade"}
    assert set(enable_rows) == would_enable
    for row in enable_rows.values():
        assert (row.action_result, row.arm_http_status, row.enabled_at, row.outcome) == ("dry_run", 0, "", None)
    assert all(r.action_result == "not_attempted" for r in rows.values() if r.action != "enable_auto_upgrade")

    # Completed at the end of enabling: no cohort, no follow-up, no second alert.
    run = store.get_run(run_id)
    assert (run.status, run.phase, run.dry_run, run.cohort_size) == ("completed", "done", True, 0)
    assert run.result_counts == {"dry_run": len(would_enable)}
    assert run.enabling_ended_at and run.ended_at == run.enabling_ended_at
    assert final.output["outcomes"] == {} and final.output["enableResults"] == {"dry_run": len(would_enable)}
    assert [i.name for i in stack.host.instances() if i.name == "follow_up_orchestrator"] == []

    [digest] = receiver.payloads
    assert (digest["kind"], digest["dryRun"], digest["runId"]) == ("sweep_completed", True, run_id)
    assert digest["counts"]["results"]["dry_run"] == len(would_enable)
    assert digest["counts"]["results"]["enabled"] == 0
    assert "(dry run)" in digest["summary"] and "would enable" in digest["summary"]


def test_dry_run_setting_sends_no_patch(make_stack):
    stack, sim, receiver = make_stack(mixed_fleet(), env={"SUBSCRIPTION_ALLOW_LIST": ALLOW, "DRY_RUN": "true"})
    stack.fire_timer()
    [instance] = stack.host.instances()
    assert_dry(stack, sim, receiver, instance.instance_id, MIXED_FLEET_TO_ENABLE)


def test_dry_run_per_request_overrides_the_setting(make_stack):
    stack, sim, receiver = make_stack(simple_fleet({SUB_A: 4, SUB_B: 3}), env={"DRY_RUN": "false"})
    response = stack.post_sweep({"subscriptions": [SUB_A, SUB_B], "dryRun": True})
    assert response.status_code == 202
    run_id = body(response)["runId"]
    would_enable = {machine_name(SUB_A, i) for i in range(4)} | {machine_name(SUB_B, i) for i in range(3)}
    assert_dry(stack, sim, receiver, run_id, would_enable)
    assert body(stack.get_sweep(run_id))["run"]["dry_run"] is True
