"""The app's orchestrators against hand-built histories, in the style of the SDK's own tests.

Each test writes the history the extension would send for one episode, calls the registered
SDK handler with it (through the seam) and checks the actions it returns. No host, no
activities: only orchestrator names, the activity names they call and the message classes.
"""
from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta, timezone

import pytest
from dateutil.parser import isoparse

from arc_sweeper.messages import (
    CheckCohort, DiscoverBatch, EnableChunk, EnableSubscription, FollowUpState, RunPlan, SweepRequest, Tally,
)
from local_stack.durable_host import history as h
from local_stack.durable_host import sdk_seam

T0 = datetime(2026, 11, 26, 3, 30, tzinfo=timezone.utc)
POLL = timedelta(hours=12)
ACTIVITY, TIMER, CONTINUE_AS_NEW = (0, 1), 5, 4  # actionType values (activity with or without retry)


def started(name: str, message) -> list[dict]:
    """The first episode's events: OrchestratorStarted, then ExecutionStarted with the input."""
    return [h.orchestrator_started(T0),
            h.execution_started(T0, name, "instance", "execution", json.dumps(json.dumps(message.to_json())))]


@functools.cache
def handlers() -> dict:
    import function_app  # imported when first needed, as tests/test_function_app.py does

    return {f.name: f.user_function for f in sdk_seam.app_functions(function_app.app)}


def run(name: str, message, played: list[dict], new: list[dict]) -> dict:
    """One episode: the SDK handler's state for ``played`` history plus ``new`` events."""
    body = h.context_json(h.replay_history(played, new), json.dumps(message.to_json()), "instance")
    state, crash = sdk_seam.call_orchestrator(handlers()[name], body)
    assert crash is None, crash
    return state


def leaves(actions: list[dict]) -> list[dict]:
    """Actions in order, with task_all / retry wrappers (compound actions) opened up."""
    return [leaf for action in actions
            for leaf in (leaves(action["compoundActions"]) if "compoundActions" in action else [action])]


def calls(state: dict) -> list[tuple[str, dict]]:
    """(activity name, input) for every activity the execution has scheduled so far."""
    [actions] = state["actions"]
    return [(a["functionName"], json.loads(a["input"])) for a in leaves(actions) if a["actionType"] in ACTIVITY]


def follow_up(deadline: timedelta = timedelta(days=7), polls_done: int = 0) -> FollowUpState:
    return FollowUpState(run_id="run-1", batch_indices=(0, 1, 2), deadline=(T0 + deadline).isoformat(),
                         poll_interval_s=int(POLL.total_seconds()), polls_done=polls_done)


FOLLOW_UP, WOKE = "follow_up_orchestrator", T0 + POLL
TIMER_SET = [*started(FOLLOW_UP, follow_up()), h.timer_created(T0, 0, WOKE), h.orchestrator_completed(T0)]
TIMER_FIRED = [h.orchestrator_started(WOKE), h.timer_fired(WOKE, 0, WOKE)]


@pytest.mark.parametrize("deadline, wake_at", [(timedelta(days=7), WOKE),
                                               (timedelta(hours=1), T0 + timedelta(hours=1))])
def test_follow_up_first_sleeps_one_poll_interval_capped_at_the_deadline(deadline, wake_at):
    state = run(FOLLOW_UP, follow_up(deadline), [], started(FOLLOW_UP, follow_up(deadline)))
    [actions] = state["actions"]
    assert state["isDone"] is False
    assert [(a["actionType"], isoparse(a["fireAt"])) for a in actions] == [(TIMER, wake_at)]


def test_follow_up_checks_every_batch_once_the_timer_fires():
    state = run(FOLLOW_UP, follow_up(), TIMER_SET, TIMER_FIRED)
    assert state["isDone"] is False
    assert [name for name, _ in calls(state)] == ["check_cohort"] * 3
    checks = [CheckCohort.from_json(message) for _, message in calls(state)]
    assert [check.batch_index for check in checks] == [0, 1, 2]
    assert {check.run_id for check in checks} == {"run-1"}


@pytest.mark.parametrize("unsettled", [0, 4])
def test_follow_up_returns_when_settled_and_continues_as_new_otherwise(unsettled):
    checks_scheduled = [*(h.task_scheduled(WOKE, task_id, "check_cohort", None) for task_id in (1, 2, 3)),
                        h.orchestrator_completed(WOKE)]
    done = WOKE + timedelta(minutes=1)
    tallies = {1: Tally(counts={"upgraded": 2}), 2: Tally(counts={"upgraded": 2}, unsettled=unsettled),
               3: Tally(counts={"upgraded": 2})}
    results = [h.task_completed(done, task_id, json.dumps(tally.to_json())) for task_id, tally in tallies.items()]
    state = run(FOLLOW_UP, follow_up(), [*TIMER_SET, *TIMER_FIRED, *checks_scheduled],
                [h.orchestrator_started(done), *results])
    assert state["isDone"] is True
    last = state["actions"][0][-1]
    if unsettled == 0:
        assert Tally.from_json(state["output"]) == Tally(counts={"upgraded": 6}, unsettled=0)
        assert last["actionType"] != CONTINUE_AS_NEW
    else:
        assert last["actionType"] == CONTINUE_AS_NEW
        assert FollowUpState.from_json(json.loads(last["input"])) == follow_up(polls_done=1)


def test_enabling_schedules_its_chunks_one_after_another():
    name = "enable_subscription_orchestrator"
    work = EnableSubscription(run_id="run-1", subscription_id="sub-a", machines_to_enable=250, chunks=3,
                              dry_run=False, as_of=T0.isoformat())
    chunk_done = json.dumps(Tally(counts={"enabled": 100}).to_json())
    played, new, now = [], started(name, work), T0
    for chunk in range(3):  # each episode adds exactly one chunk: the next waits for the previous
        state = run(name, work, played, new)
        assert [(activity, EnableChunk.from_json(message).chunk_index) for activity, message in calls(state)] == [
            ("enable_machines", index) for index in range(chunk + 1)]
        played += [*new, h.task_scheduled(now, chunk, "enable_machines", None), h.orchestrator_completed(now)]
        now += timedelta(minutes=1)
        new = [h.orchestrator_started(now), h.task_completed(now, chunk, chunk_done)]
    final = run(name, work, played, new)
    assert final["isDone"] is True and Tally.from_json(final["output"]).counts == {"enabled": 300}


def test_sweep_discovers_every_batch_of_the_plan():
    request = SweepRequest(run_id="run-1", trigger="timer")
    plan = RunPlan(run_id="run-1", dry_run=True, batch_count=2, subscriptions_in_scope=7,
                   follow_up_window_s=7 * 86400, poll_interval_s=int(POLL.total_seconds()))
    at = T0 + timedelta(seconds=5)
    played = [*started("sweep_orchestrator", request),
              h.task_scheduled(T0, 0, "start_run", None), h.orchestrator_completed(T0)]
    state = run("sweep_orchestrator", request, played,
                [h.orchestrator_started(at), h.task_completed(at, 0, json.dumps(plan.to_json()))])
    assert [name for name, _ in calls(state)] == ["start_run", "discover_machines", "discover_machines"]
    assert [DiscoverBatch.from_json(message).batch_index for _, message in calls(state)[1:]] == [0, 1]
