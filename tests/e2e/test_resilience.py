"""Throttling, transient failures and refusals: absorbed or recorded, and the sweep completes."""

from __future__ import annotations

from collections import Counter

import requests

from local_stack.simulator import FaultSettings, ThrottleSettings
from local_stack.simulator.server import ROUTES
from local_stack.simulator.wire import ArmError
from tests.e2e.fleets import SUB_A, SUB_B, SUB_DISABLED, SUB_FORBIDDEN, SUB_UNREADABLE, mixed_fleet
from tests.e2e.support import (
    QUICK_FOLLOW_UP,
    arg_requests,
    guid,
    machine_entities,
    simple_fleet,
    store_of,
    sweep_instances,
)

ARG_PATH = "/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01"
ENABLE_BODY = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}


def run_daily(stack):
    stack.fire_timer()
    [run] = sweep_instances(stack)
    final = stack.run_to_completion(run.instance_id, timeout_s=120)
    assert final.runtime_status == "Completed", final.error
    return run.instance_id


def assert_each_enabled_once(stack, sim, run_id: str, expected: int) -> None:
    succeeded = Counter(r.path.lower() for r in sim.patches())
    assert len(succeeded) == expected and set(succeeded.values()) == {1}
    assert all(r.body == ENABLE_BODY for r in sim.requests if r.method == "PATCH")
    entities = machine_entities(stack, run_id)
    assert len(entities) == expected
    assert Counter(e["action_result"] for e in entities) == {"enabled": expected}
    assert {e["resource_id"].lower() for e in entities} == set(succeeded)
    assert store_of(stack).get_run(run_id).outcome_counts == {"upgraded": expected}


def retried_after(sim, failed, same) -> float:
    """Seconds from a refused request to the next request for the same thing."""
    later = [r for r in sim.requests if r.wall_time > failed.wall_time and same(r)]
    return later[0].wall_time - failed.wall_time


def test_resource_graph_quota_and_write_throttling_are_absorbed(make_stack):
    subs = [guid(n) for n in (11, 12, 13)]
    fleet = simple_fleet({subs[0]: 10, subs[1]: 2, subs[2]: 2})
    stack, sim, receiver = make_stack(fleet, env={**QUICK_FOLLOW_UP, "RESOURCE_GRAPH_BATCH_SIZE": "1"})
    sim.set_throttling(
        ThrottleSettings(arg_quota=2, arg_window_seconds=3.0, write_burst=5, write_refill_per_second=20.0)
    )
    # Someone else with the same identity just used this window's Resource Graph quota.
    for _ in range(2):
        assert (
            requests.post(
                sim.base_url + ARG_PATH,
                json={"query": "resources | project id"},
                headers={"Authorization": "Bearer local-development-token"},
            ).status_code
            == 200
        )
    run_id = run_daily(stack)
    assert_each_enabled_once(stack, sim, run_id, 14)

    arg_429 = [r for r in arg_requests(sim) if r.status == 429]
    assert arg_429 and all(r.error_code == "RateLimiting" for r in arg_429)
    # A 3 s window, so that a loaded machine still asks within the window the two queries above used up;
    # the quota's reset (Retry-After) is honoured before the same batch is asked again.
    for refused in arg_429:
        batch = refused.body["subscriptions"]
        assert (
            retried_after(
                sim, refused, lambda r, batch=batch: r.method == "POST" and r.body.get("subscriptions") == batch
            )
            >= 0.9
        )
    patch_429 = [r for r in sim.requests if r.method == "PATCH" and r.status == 429]
    # The write budget (x-ms-ratelimit-remaining-subscription-writes) usually avoids 429s altogether;
    # any drawn belong to the one subscription with more machines than its bucket, and are waited out.
    assert {r.path.split("/")[2] for r in patch_429} <= {subs[0]}
    for refused in patch_429:
        assert (
            retried_after(sim, refused, lambda r, refused=refused: r.method == "PATCH" and r.path == refused.path)
            >= 0.9
        )
    assert not [r for r in sim.requests if r.status not in (200, 429)]


def test_transient_server_errors_are_retried(make_stack):
    subs = [guid(n) for n in (21, 22, 23, 24)]
    fleet = simple_fleet({subs[0]: 10, subs[1]: 8, subs[2]: 6, subs[3]: 2})
    # The simulator's faults are seeded: these rates fail at least one query and one PATCH.
    stack, sim, receiver = make_stack(
        fleet, env={**QUICK_FOLLOW_UP, "RESOURCE_GRAPH_BATCH_SIZE": "1"}, faults=FaultSettings(arg=0.3, patch=0.2)
    )
    run_id = run_daily(stack)
    assert_each_enabled_once(stack, sim, run_id, 26)
    failed = [r for r in sim.requests if r.status >= 500]
    assert {r.status for r in failed} <= {500, 503}
    assert {("PATCH" if r.method == "PATCH" else "ARG") for r in failed} == {"PATCH", "ARG"}
    # Every refused PATCH was sent again until it succeeded, and the refusal left no trace.
    for refused in (r for r in failed if r.method == "PATCH"):
        assert any(p.path == refused.path for p in sim.patches())
    assert all(c.cause != "patch" or c.new is True for c in sim.changes)


def test_refusals_and_a_failing_resource_graph_query_are_recorded_while_the_rest_completes(make_stack, monkeypatch):
    allow = ",".join([SUB_A, SUB_B, SUB_FORBIDDEN, SUB_UNREADABLE, SUB_DISABLED])
    stack, sim, receiver = make_stack(
        mixed_fleet(), env={"SUBSCRIPTION_ALLOW_LIST": allow, "RESOURCE_GRAPH_BATCH_SIZE": "1", **QUICK_FOLLOW_UP}
    )
    [arg_route] = [route for route in ROUTES if route.family == "arg"]
    real_query = arg_route.handlers["POST"]

    def query(sim_, request, params):
        if SUB_B in (request.json_body() or {}).get("subscriptions", []):
            raise ArmError(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action "
                f"'Microsoft.ResourceGraph/resources/read' over scope '/subscriptions/{SUB_B}'.",
            )
        return real_query(sim_, request, params)

    monkeypatch.setitem(arg_route.handlers, "POST", query)
    run_id = run_daily(stack)
    store = store_of(stack)

    # The subscription whose query failed: skipped with the reason, nothing of it written.
    subscriptions = {s.subscription_id: s for s in store.subscriptions(run_id)}
    skipped = subscriptions[SUB_B]
    assert not skipped.in_scope and skipped.not_swept and skipped.machines == 0
    assert skipped.skip_reason.startswith("not swept: Resource Graph could not be read:")
    assert "AuthorizationFailed" in skipped.skip_reason
    refused = [r for r in arg_requests(sim) if r.status == 403]
    assert len(refused) == 1  # a client error is not retried
    assert not [r for r in sim.requests if r.method == "PATCH" and SUB_B in r.path]
    rows = {r.name: r for r in store.all_machines(run_id)}
    assert "enable-other-sub" not in rows

    # The forbidden subscription's and the locked machine's refusals, recorded per machine.
    assert (rows["forbidden"].action_result, rows["forbidden"].arm_http_status, rows["forbidden"].arm_error_code) == (
        "failed",
        403,
        "AuthorizationFailed",
    )
    assert (rows["locked"].action_result, rows["locked"].arm_http_status, rows["locked"].arm_error_code) == (
        "failed",
        409,
        "ScopeLocked",
    )
    assert rows["locked"].arm_error_message and rows["locked"].outcome is None
    assert Counter(r.path.rsplit("/", 1)[1] for r in sim.requests if r.method == "PATCH") == Counter(
        [
            "enable-succeeds",
            "enable-missing-flag",
            "enable-recovers",
            "enable-stuck",
            "enable-then-disconnects",
            "enable-then-deleted",
            "locked",
            "forbidden",
        ]
    )  # each sent once: 403 and 409 are not retried

    # The rest completed: enabled and followed up.
    assert rows["enable-succeeds"].outcome == "upgraded"
    run = store.get_run(run_id)
    assert (run.status, run.cohort_size, run.result_counts) == ("completed", 6, {"enabled": 6, "failed": 2})
    assert (run.subscriptions_in_scope, run.subscriptions_skipped) == (2, 3)

    # Both alerts list the skipped subscription and the refused machines.
    for payload in receiver.payloads:
        items = {(i["kind"], i["name"]) for i in payload["attention"]["items"]}
        assert {
            ("subscription_not_swept", "Data"),
            ("enable_failed", "locked"),
            ("enable_failed", "forbidden"),
        } <= items
        [item] = [i for i in payload["attention"]["items"] if i["subscriptionId"] == SUB_B]
        assert "Resource Graph could not be read" in item["message"]
