"""Staged rollout, day after day on the virtual clock: rings open in order, a failing ring holds the next."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.functions as func

from local_stack.simulator.agents import UpgradeBehaviour
from local_stack.simulator.fleet import Fleet, Machine, Subscription
from tests.e2e.fleets import NEW, START, SUB_A
from tests.e2e.support import QUICK, store_of, sweep_instances

RINGS = {
    "RING_TAG": "ring",
    "RING_SOAK": "P2D",
    "RING_MIN_SAMPLE": "3",
    "FOLLOW_UP_WINDOW": "P2D",
    "POLL_INTERVAL": "P1D",
    "STUCK_AFTER": "P1D",
}


def fleet(pilot_outcome: str) -> Fleet:
    def machine(name: str, ring: str, outcome: str) -> Machine:
        return Machine.build(
            SUB_A,
            "rg",
            name,
            agent_version=NEW,
            auto_upgrade=False,
            tags={"Ring": ring},
            behaviour=UpgradeBehaviour(outcome, **QUICK),
        )

    machines = [machine(f"pilot-{i}", "0", pilot_outcome) for i in range(4)]
    machines += [machine(f"wave-{i}", "1", "succeed") for i in range(4)]
    return Fleet([Subscription(SUB_A, "App")], machines, created_at=START)


def daily(stack) -> str:
    stack.fire_timer()
    run = max(sweep_instances(stack), key=lambda i: i.instance_id)
    assert stack.run_to_completion(run.instance_id).runtime_status == "Completed"
    return run.instance_id


def patched(sim) -> set[str]:
    return {r.path.rsplit("/", 1)[1] for r in sim.patches()}


def api(stack, function: str, method: str, path: str, body: dict | None = None, **route) -> tuple[int, dict]:
    request = func.HttpRequest(
        method,
        f"http://127.0.0.1:7071/api/{path}",
        body=json.dumps(body or {}).encode(),
        route_params=route,
        headers={"x-ms-client-principal-name": "ops@contoso.com"},
    )
    response = stack.host.invoke(function, req=request)
    return response.status_code, json.loads(response.get_body())


def test_rings_open_in_order_after_the_soak_when_healthy(make_stack):
    stack, sim, receiver = make_stack(fleet("succeed"), env=RINGS)
    first = daily(stack)
    assert patched(sim) == {f"pilot-{i}" for i in range(4)}  # ring 1 waits: nothing sent to it
    rows = {r.name: r for r in store_of(stack).all_machines(first)}
    assert rows["wave-0"].action_result == "deferred" and "waits for the rings before it" in rows["wave-0"].defer_reason

    stack.host.clock.advance_to(START + timedelta(days=2, hours=1))  # ring 0 opened at START: its soak is over
    second = daily(stack)
    assert second != first and patched(sim) == {f"{n}-{i}" for n in ("pilot", "wave") for i in range(4)}
    rings = {r.ring: r for r in store_of(stack).rings().values()}
    assert rings[1].state == "open" and rings[1].opened_by == "gate" and "healthy" in rings[1].decision
    assert rings[1].previous_counts == {"enabled": 4, "settled": 4, "succeeded": 4, "failing": 0}
    assert len(sim.patches()) == 8  # each machine once, across both days


def test_a_failing_ring_holds_the_next_until_an_operator_opens_it(make_stack):
    stack, sim, receiver = make_stack(fleet("stuck"), env=RINGS)
    daily(stack)
    stack.host.clock.advance_to(START + timedelta(days=2, hours=1))
    held_run = daily(stack)
    assert patched(sim) == {f"pilot-{i}" for i in range(4)}  # the held ring's machines untouched
    status, answer = api(stack, "list_rings", "GET", "rings")
    ring1 = next(r for r in answer["rings"] if r["ring"] == 1)
    assert status == 200 and answer["configured"] and ring1["state"] == "held"
    assert "0% upgraded (at least 90%)" in ring1["decision"] and "100% failing or stuck" in ring1["decision"]
    assert ring1["failing"] == [f"pilot-{i}" for i in range(4)]
    digest = next(p for p in receiver.payloads if p["runId"] == held_run and p["kind"] == "sweep_completed")
    [item] = [i for i in digest["attention"]["items"] if i["kind"] == "ring_held"]
    assert item["name"] == "ring 1" and "at most 5%" in item["message"] and "pilot-0" in item["message"]

    assert api(stack, "open_ring", "POST", "rings/1/open", {}, ring="1")[0] == 400  # a reason is required
    status, answer = api(
        stack, "open_ring", "POST", "rings/1/open", {"reason": "proxy fixed on the pilot hosts"}, ring="1"
    )
    assert status == 200 and answer["ring"]["opened_by"] == "operator ops@contoso.com"
    stack.host.clock.advance_to(stack.host.clock.now() + timedelta(days=1))
    daily(stack)
    assert {f"wave-{i}" for i in range(4)} <= patched(sim)
    ring1 = store_of(stack).rings()[1]
    assert ring1.state == "open" and "proxy fixed on the pilot hosts" in ring1.decision
