"""Re-runs and retries never PATCH a machine twice, and rewrite rows rather than add them."""

from __future__ import annotations

from collections import Counter

from azure.core.exceptions import ClientAuthenticationError

from arc_sweeper.messages import EnableChunk
from arc_sweeper.runtime import steps
from tests.e2e.fleets import SUB_A, SUB_B
from tests.e2e.support import (
    QUICK_FOLLOW_UP,
    machine_entities,
    simple_fleet,
    store_of,
    sweep_instances,
)


def patch_attempts(sim) -> Counter:
    return Counter(r.path.lower() for r in sim.requests if r.method == "PATCH")


def test_a_second_timer_firing_the_same_day_starts_nothing(make_stack):
    # Machines that never settle and a follow-up that ends the same (virtual) day: 09:00 to 15:00.
    fleet = simple_fleet({SUB_A: 3, SUB_B: 2})
    stack, sim, receiver = make_stack(fleet, env={"FOLLOW_UP_WINDOW": "PT6H", "POLL_INTERVAL": "PT3H"})
    stack.fire_timer()
    stack.fire_timer()  # while the first is still pending
    [first] = sweep_instances(stack)
    assert first.instance_id.startswith("daily-") and first.runtime_status == "Pending"
    assert stack.run_to_completion(first.instance_id).runtime_status == "Completed"

    stack.fire_timer()  # after the first completed
    stack.host.run_until_idle()
    [again] = sweep_instances(stack)
    assert (again.instance_id, again.execution_id, again.runtime_status) == (
        first.instance_id,
        first.execution_id,
        "Completed",
    )
    attempts = patch_attempts(sim)
    assert len(attempts) == 5 and set(attempts.values()) == {1}
    assert len(machine_entities(stack, first.instance_id)) == 5
    assert [p["kind"] for p in receiver.payloads] == ["sweep_completed", "follow_up_completed"]


def test_rerunning_an_enable_step_after_the_run_sends_nothing(make_stack):
    stack, sim, receiver = make_stack(simple_fleet({SUB_A: 7}), env={**QUICK_FOLLOW_UP, "ENABLE_BATCH_SIZE": "3"})
    stack.fire_timer()
    [run] = sweep_instances(stack)
    assert stack.run_to_completion(run.instance_id).runtime_status == "Completed"
    before = patch_attempts(sim)
    assert len(before) == 7 and set(before.values()) == {1}
    rows_before = {e["RowKey"]: e for e in machine_entities(stack, run.instance_id)}
    assert len(rows_before) == 7

    app = steps()
    for chunk in range(3):  # chunks of 3, 3 and 1 machines
        tally = app.enabling.enable_chunk(EnableChunk(run.instance_id, SUB_A, chunk, False, "2026-11-25T00:00:00Z"))
        assert tally.counts == {"enabled": 3 if chunk < 2 else 1}

    assert patch_attempts(sim) == before
    rows_after = {e["RowKey"]: e for e in machine_entities(stack, run.instance_id)}
    assert rows_after.keys() == rows_before.keys()
    assert all(e["action_result"] == "enabled" and e["outcome"] == "upgraded" for e in rows_after.values())


def test_an_enable_activity_failing_midway_is_retried_without_a_second_patch(make_stack, monkeypatch):
    """A token hiccup fails the 4th PATCH of a chunk before it is sent; the activity fails.

    The orchestrator's retry runs the activity again: it must PATCH only what the first
    attempt did not, although the first attempt's other PATCHes were still in flight.
    """
    env = {**QUICK_FOLLOW_UP, "ENABLE_BATCH_SIZE": "10", "MAX_PARALLEL_WRITES_PER_SUBSCRIPTION": "2"}
    stack, sim, receiver = make_stack(simple_fleet({SUB_A: 10, SUB_B: 2}), env=env)
    app = steps()
    real = app.enabling.arm.enable_automatic_upgrade
    calls = Counter()

    def flaky(machine_id, gate=None):
        calls[SUB_A in machine_id] += 1
        if SUB_A in machine_id and calls[True] == 4:
            calls["failed"] += 1
            raise ClientAuthenticationError("token endpoint unavailable")
        return real(machine_id, gate)

    monkeypatch.setattr(app.enabling.arm, "enable_automatic_upgrade", flaky)
    stack.fire_timer()
    [run] = sweep_instances(stack)
    final = stack.run_to_completion(run.instance_id)
    assert final.runtime_status == "Completed", final.error

    # The activity really failed once and was retried by the orchestration.
    assert calls["failed"] == 1
    enable = stack.host.status(f"{run.instance_id}:enable:{SUB_A}")
    failed = [e for e in stack.host.history(enable.instance_id) if e["EventType"] == 6]  # TaskFailed
    assert len(failed) == 1 and "token endpoint unavailable" in failed[0]["Reason"]

    attempts = patch_attempts(sim)
    assert len(attempts) == 12 and set(attempts.values()) == {1}, {k.rsplit("/", 1)[1]: v for k, v in attempts.items()}
    entities = machine_entities(stack, run.instance_id)
    assert len(entities) == 12
    assert Counter(e["action_result"] for e in entities) == {"enabled": 12}
    run_row = store_of(stack).get_run(run.instance_id)
    assert run_row.result_counts == {"enabled": 12} and run_row.cohort_size == 12
    assert run_row.outcome_counts == {"upgraded": 12}


def test_a_retried_phase_end_does_not_send_its_alert_twice(make_stack):
    from arc_sweeper.messages import PhaseEnd

    stack, sim, receiver = make_stack(simple_fleet({SUB_A: 3}), env=QUICK_FOLLOW_UP)
    stack.fire_timer()
    [run] = sweep_instances(stack)
    assert stack.run_to_completion(run.instance_id).runtime_status == "Completed"
    assert [p["kind"] for p in receiver.payloads] == ["sweep_completed", "follow_up_completed"]

    app = steps()
    app.closing.finish_enabling(PhaseEnd(run.instance_id, "2026-11-30T00:00:00Z"))  # as a retried activity would
    app.closing.finish_run(PhaseEnd(run.instance_id, "2026-11-30T00:00:00Z"))
    assert [p["kind"] for p in receiver.payloads] == ["sweep_completed", "follow_up_completed"]
