"""Storage faults: Table Storage failing while a chunk is being enabled, or while a sweep is asked for."""

from __future__ import annotations

import pytest

from local_stack.azurite import start_azurite
from local_stack.simulator.scripted import Script, patches
from tests.e2e.fleets import SUB_A, SUB_B
from tests.e2e.support import body, simple_fleet
from tests.faults.storage_proxy import Rule, machine_rows
from tests.faults.support import Expect

# Two PATCHes in flight at a time, so a chunk of twelve is sent in waves; its results are recorded
# eight at a time (the first eight while four are still to send), then the rest.
ONE_CHUNK_IN_WAVES = {"MAX_PARALLEL_WRITES_PER_SUBSCRIPTION": "2", "ENABLE_BATCH_SIZE": "12"}
FLEET = {SUB_A: 12, SUB_B: 2}
TASK_FAILED = 6


def enabling_failures(trial, run_id: str, subscription: str) -> list[str]:
    """Why the subscription's enabling activities failed (each failure was retried by the orchestration)."""
    history = trial.stack.host.history(f"{run_id}:enable:{subscription}")
    return [e["Reason"] for e in history if e["EventType"] == TASK_FAILED]


@pytest.mark.parametrize(
    "rows, action",
    [
        ("sending", "fail"),  # an intent write refused: the wave's PATCHes must not go out
        ("enabled", "fail"),  # a result write refused: eight PATCHes went out, four are still to send
        ("sending", "lose_answer"),  # an intent written, but storage's answer lost
        ("enabled", "lose_answer"),  # results written, but storage's answer lost
    ],
)
def test_a_machine_row_write_failing_mid_chunk(make_trial, rows, action):
    trial = make_trial(simple_fleet(FLEET), env=ONE_CHUNK_IN_WAVES)
    # The chunk's second intent write, or its first result write, fails on every attempt the SDK makes.
    rule = trial.storage.add(Rule(machine_rows(rows, SUB_A), action=action, after=1 if rows == "sending" else 0))

    run_id = trial.run_daily()

    assert len(rule.struck) == 1 and rule.hits >= 1
    assert len(enabling_failures(trial, run_id, SUB_A)) == 1  # the activity failed, and its retry finished
    trial.check(run_id)


@pytest.mark.parametrize(
    "rows, action",
    [
        ("sending", "drop"),  # an intent write's connection reset before storage saw it
        ("sending", "lose_answer"),  # an intent written, its answer lost once
        ("enabled", "lose_answer"),  # results written, their answer lost once
    ],
)
def test_a_row_write_dropped_once_is_sent_again_by_the_write(make_trial, rows, action):
    """A passing hiccup costs the write another try, not the chunk's activity a retry 30 s later."""
    trial = make_trial(simple_fleet(FLEET), env=ONE_CHUNK_IN_WAVES)
    rule = trial.storage.add(
        Rule(machine_rows(rows, SUB_A), action=action, after=1 if rows == "sending" else 0, retries_too=False)
    )

    run_id = trial.run_daily()

    assert len(rule.struck) == 1 and rule.hits == 1 and rule.resent >= 1  # the same write, sent again
    assert enabling_failures(trial, run_id, SUB_A) == []  # no activity failed
    trial.check(run_id)


def test_azurite_restarted_mid_chunk(make_trial, storage):
    """The real emulator stops while PATCHes are in flight, and comes back before the activity's retry."""
    own = start_azurite(in_memory=False)  # on disk, so a restart keeps the tables
    try:
        storage.upstream_port = own.ports["Table"]
        trial = make_trial(simple_fleet(FLEET), env=ONE_CHUNK_IN_WAVES)
        halted = trial.sim.script(Script(when=patches(SUB_A), after=3, times=1, before=lambda request: own.halt()))
        restarted = []

        def restart_after_the_failure(instance_id, custom_status):
            if not restarted and own.process.poll() is not None and instance_id.endswith(f":enable:{SUB_A}"):
                own.restart()
                restarted.append(instance_id)

        trial.stack.host.on_progress = restart_after_the_failure
        run_id = trial.run_daily()

        assert halted.hits == 1 and restarted
        assert enabling_failures(trial, run_id, SUB_A)
        trial.check(run_id)
    finally:
        own.stop()


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_storage_unreachable_when_a_sweep_is_asked_for(make_trial, method):
    trial = make_trial(simple_fleet({SUB_A: 3}))
    known = body(trial.stack.post_sweep({"subscriptions": [SUB_A], "dryRun": True}))["runId"]
    outage = trial.storage.down()

    answer = trial.stack.post_sweep({"subscriptions": [SUB_A]}) if method == "POST" else trial.stack.get_sweep(known)

    assert answer.status_code == 503, answer.get_body()
    assert body(answer)["error"] == "StorageUnavailable" and answer.headers["Retry-After"]
    assert [i.instance_id for i in trial.stack.host.instances()] == [known]  # nothing else started
    assert trial.sim.patches() == []

    trial.storage.remove(outage)  # storage is back: the next request is served, the sweep runs
    run_id = body(trial.stack.post_sweep({"subscriptions": [SUB_A]}))["runId"]
    trial.stack.run_to_completion(run_id)
    trial.check(run_id, Expect(scope=frozenset({SUB_A})))
