"""The app's orchestrators against hand-built histories, in the style of the SDK's own tests.

Each test writes the history the extension would send for one episode, calls the registered
SDK handler with it (through the seam) and checks the actions it returns. No host, no
activities: only orchestrator names, the activity names they call and the message classes.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.parser import isoparse

from arc_sweeper.messages import (
    CheckCohort,
    ChunkResult,
    CohortResult,
    DiscoverBatch,
    DiscoveryResult,
    EnableChunk,
    EnableSubscription,
    FollowUpState,
    RunPlan,
    SubscriptionWork,
    SweepRequest,
    Tally,
)
from arc_sweeper.throttling import GraphQuota, WriteBudget
from local_stack.durable_host import history as h
from local_stack.durable_host import sdk_seam

T0 = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
POLL = timedelta(hours=12)
ACTIVITY, TIMER, CONTINUE_AS_NEW = (0, 1), 5, 4  # actionType values (activity with or without retry)


def started(name: str, message) -> list[dict]:
    """The first episode's events: OrchestratorStarted, then ExecutionStarted with the input."""
    return [
        h.orchestrator_started(T0),
        h.execution_started(T0, name, "instance", "execution", json.dumps(json.dumps(message.to_json()))),
    ]


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
    return [
        leaf
        for action in actions
        for leaf in (leaves(action["compoundActions"]) if "compoundActions" in action else [action])
    ]


def calls(state: dict) -> list[tuple[str, dict]]:
    """(activity name, input) for every activity the execution has scheduled so far."""
    [actions] = state["actions"]
    return [(a["functionName"], json.loads(a["input"])) for a in leaves(actions) if a["actionType"] in ACTIVITY]


def follow_up(deadline: timedelta = timedelta(days=7), polls_done: int = 0) -> FollowUpState:
    return FollowUpState(
        run_id="run-1",
        batch_indices=(0, 1, 2),
        deadline=(T0 + deadline).isoformat(),
        poll_interval_s=int(POLL.total_seconds()),
        polls_done=polls_done,
    )


FOLLOW_UP, WOKE = "follow_up_orchestrator", T0 + POLL
TIMER_SET = [*started(FOLLOW_UP, follow_up()), h.timer_created(T0, 0, WOKE), h.orchestrator_completed(T0)]
TIMER_FIRED = [h.orchestrator_started(WOKE), h.timer_fired(WOKE, 0, WOKE)]


@pytest.mark.parametrize(
    "deadline, wake_at", [(timedelta(days=7), WOKE), (timedelta(hours=1), T0 + timedelta(hours=1))]
)
def test_follow_up_first_sleeps_one_poll_interval_capped_at_the_deadline(deadline, wake_at):
    state = run(FOLLOW_UP, follow_up(deadline), [], started(FOLLOW_UP, follow_up(deadline)))
    [actions] = state["actions"]
    assert state["isDone"] is False
    assert [(a["actionType"], isoparse(a["fireAt"])) for a in actions] == [(TIMER, wake_at)]


def test_follow_up_checks_the_batches_one_after_another_handing_on_the_quota():
    quota = GraphQuota(remaining=3, resets_at=1.0, as_of=0.5)
    played, new, now = list(TIMER_SET), list(TIMER_FIRED), WOKE
    for batch in range(3):  # each episode adds one check: the next gets the quota the previous left
        state = run(FOLLOW_UP, follow_up(), played, new)
        checks = [CheckCohort.from_json(message) for _, message in calls(state)]
        assert [check.batch_index for check in checks] == list(range(batch + 1))
        assert checks[-1].quota == (quota if batch else None)
        played += [*new, h.task_scheduled(now, batch + 1, "check_cohort", None), h.orchestrator_completed(now)]
        now += timedelta(minutes=1)
        result = CohortResult(Tally(counts={"upgraded": 2}), quota)
        new = [h.orchestrator_started(now), h.task_completed(now, batch + 1, json.dumps(result.to_json()))]
    final = run(FOLLOW_UP, follow_up(), played, new)
    assert final["isDone"] is True and Tally.from_json(final["output"]) == Tally(counts={"upgraded": 6})


@pytest.mark.parametrize("unsettled", [0, 4])
def test_follow_up_returns_when_settled_and_continues_as_new_otherwise(unsettled):
    played, new, now = list(TIMER_SET), list(TIMER_FIRED), WOKE
    for batch in range(3):
        played += [*new, h.task_scheduled(now, batch + 1, "check_cohort", None), h.orchestrator_completed(now)]
        now += timedelta(minutes=1)
        tally = Tally(counts={"upgraded": 2}, unsettled=unsettled if batch == 1 else 0)
        new = [h.orchestrator_started(now), h.task_completed(now, batch + 1, json.dumps(CohortResult(tally).to_json()))]
    state = run(FOLLOW_UP, follow_up(), played, new)
    assert state["isDone"] is True
    last = state["actions"][0][-1]
    if unsettled == 0:
        assert Tally.from_json(state["output"]) == Tally(counts={"upgraded": 6}, unsettled=0)
        assert last["actionType"] != CONTINUE_AS_NEW
    else:
        assert last["actionType"] == CONTINUE_AS_NEW
        assert FollowUpState.from_json(json.loads(last["input"])) == follow_up(polls_done=1)


def test_enabling_schedules_its_chunks_one_after_another_handing_on_the_budget():
    name = "enable_subscription_orchestrator"
    work = EnableSubscription(
        run_id="run-1", subscription_id="sub-a", machines_to_enable=250, chunks=3, dry_run=False, as_of=T0.isoformat()
    )
    budget = WriteBudget(tokens=17, concurrency=9, as_of=2.0)
    chunk_done = json.dumps(ChunkResult(counts={"enabled": 100}, budget=budget).to_json())
    played, new, now = [], started(name, work), T0
    for chunk in range(3):  # each episode adds exactly one chunk: the next waits for the previous
        state = run(name, work, played, new)
        scheduled = [EnableChunk.from_json(message) for _, message in calls(state)]
        assert [c.chunk_index for c in scheduled] == list(range(chunk + 1))
        assert scheduled[-1].budget == (budget if chunk else None)
        played += [*new, h.task_scheduled(now, chunk, "enable_machines", None), h.orchestrator_completed(now)]
        now += timedelta(minutes=1)
        new = [h.orchestrator_started(now), h.task_completed(now, chunk, chunk_done)]
    final = run(name, work, played, new)
    assert final["isDone"] is True and Tally.from_json(final["output"]).counts == {"enabled": 300}


def test_a_chunk_whose_time_budget_ran_out_continues_in_a_new_call():
    name = "enable_subscription_orchestrator"
    work = EnableSubscription(
        run_id="run-1", subscription_id="sub-a", machines_to_enable=100, chunks=1, dry_run=False, as_of=T0.isoformat()
    )
    unfinished = json.dumps(ChunkResult(counts={"enabled": 60, "not_attempted": 40}, remaining=40).to_json())
    played = [*started(name, work), h.task_scheduled(T0, 0, "enable_machines", None), h.orchestrator_completed(T0)]
    state = run(name, work, played, [h.orchestrator_started(T0), h.task_completed(T0, 0, unfinished)])
    scheduled = [EnableChunk.from_json(message) for _, message in calls(state)]
    assert [(c.chunk_index, c.continuation) for c in scheduled] == [(0, 0), (0, 1)]


def run_plan(*, dry_run: bool, batch_count: int, subscriptions_in_scope: int) -> RunPlan:
    """start_run's answer for run-1: a week's follow-up, polled every POLL."""
    return RunPlan(
        run_id="run-1",
        dry_run=dry_run,
        batch_count=batch_count,
        subscriptions_in_scope=subscriptions_in_scope,
        follow_up_window_s=7 * 86400,
        poll_interval_s=int(POLL.total_seconds()),
    )


def test_sweep_discovers_the_batches_one_after_another():
    request = SweepRequest(run_id="run-1", trigger="timer")
    plan = run_plan(dry_run=True, batch_count=2, subscriptions_in_scope=7)
    at = T0 + timedelta(seconds=5)
    played = [
        *started("sweep_orchestrator", request),
        h.task_scheduled(T0, 0, "start_run", None),
        h.orchestrator_completed(T0),
    ]
    state = run(
        "sweep_orchestrator",
        request,
        played,
        [h.orchestrator_started(at), h.task_completed(at, 0, json.dumps(plan.to_json()))],
    )
    assert [name for name, _ in calls(state)] == ["start_run", "discover_machines"]
    assert DiscoverBatch.from_json(calls(state)[1][1]).batch_index == 0


def test_sweep_starts_the_busiest_subscriptions_enabling_first():
    """The sweep lasts as long as its busiest subscription takes at ARM's refill: that one starts first."""
    request = SweepRequest(run_id="run-1", trigger="timer")
    plan = run_plan(dry_run=False, batch_count=2, subscriptions_in_scope=4)
    batches = [
        DiscoveryResult("run-1", 0, 17, (SubscriptionWork("sub-small", 5, 1), SubscriptionWork("sub-big", 40, 1))),
        DiscoveryResult(
            "run-1", 1, 21, (SubscriptionWork("sub-mid", 12, 1), SubscriptionWork("sub-ext", 12, 1, extension_chunks=2))
        ),
    ]
    played = [*started("sweep_orchestrator", request)]
    new = [h.task_scheduled(T0, 0, "start_run", None), h.orchestrator_completed(T0)]
    played += new
    now = T0 + timedelta(seconds=1)
    new = [h.orchestrator_started(now), h.task_completed(now, 0, json.dumps(plan.to_json()))]
    for index, batch in enumerate(batches, start=1):
        played += [*new, h.task_scheduled(now, index, "discover_machines", None), h.orchestrator_completed(now)]
        now += timedelta(seconds=1)
        new = [h.orchestrator_started(now), h.task_completed(now, index, json.dumps(batch.to_json()))]
    state = run("sweep_orchestrator", request, played, new)
    [actions] = state["actions"]
    started_subs = [
        EnableSubscription.from_json(json.loads(a["input"])).subscription_id
        for a in leaves(actions)
        if "instanceId" in a and a.get("functionName") == "enable_subscription_orchestrator"
    ]
    assert started_subs == ["sub-big", "sub-ext", "sub-mid", "sub-small"]
