"""Rings in the steps: evaluated before discovery, closed rings deferred, unringed machines in the last ring."""

from __future__ import annotations

from arc_sweeper.messages import DiscoverBatch, EvaluateRings, StartRun, SweepRequest
from arc_sweeper.vocabulary import EnableResult, RingState, Trigger
from tests.steps.conftest import AS_OF, SUB_A, snapshot

RUN = "daily-2026-11-20"


def test_machines_of_a_closed_ring_are_deferred_with_the_reason_and_never_numbered(world):
    world.env["RING_TAG"] = "ring"
    world.graph.machines = [
        snapshot(SUB_A, "pilot", tags={"Ring": "0"}),
        snapshot(SUB_A, "wave", tags={"ring": "1"}),
        snapshot(SUB_A, "untagged"),
    ]
    plan = world.scope.start_run(StartRun(SweepRequest(RUN, Trigger.TIMER), AS_OF))
    assert plan.staged
    rings = world.rings.evaluate(EvaluateRings(RUN, AS_OF))
    assert rings.open_rings == (0,)
    result = world.discovery.discover_batch(DiscoverBatch(RUN, 0, AS_OF, rings=rings))
    rows = {r.name: r for r in world.tables.all_machines(RUN)}
    assert (rows["pilot"].ring, rows["pilot"].action_result, rows["pilot"].enable_chunk) == (0, "not_attempted", 0)
    assert (rows["wave"].ring, rows["wave"].action_result, rows["wave"].enable_chunk) == (1, "deferred", -1)
    assert "ring 1 waits for the rings before it" in rows["wave"].defer_reason
    assert rows["untagged"].ring == 0  # the last ring known today is ring 0
    assert [(w.subscription_id, w.machines_to_enable) for w in result.work] == [(SUB_A, 2)]


def test_the_next_evaluation_knows_the_rings_discovery_saw(world):
    world.env["RING_TAG"] = "ring"
    world.graph.machines = [snapshot(SUB_A, "pilot", tags={"ring": "0"}), snapshot(SUB_A, "wave", tags={"ring": "1"})]
    world.scope.start_run(StartRun(SweepRequest(RUN, Trigger.TIMER), AS_OF))
    world.discovery.discover_batch(DiscoverBatch(RUN, 0, AS_OF, rings=world.rings.evaluate(EvaluateRings(RUN, AS_OF))))
    again = world.rings.evaluate(EvaluateRings("next", AS_OF))
    assert again.last_ring == 1 and "soaking" in again.waiting["1"]
    assert world.tables.rings()[1].state == RingState.WAITING
    deferred = [r for r in world.tables.all_machines(RUN) if r.action_result == EnableResult.DEFERRED]
    assert [r.name for r in deferred] == ["wave"]
