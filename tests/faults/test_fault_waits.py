"""Throttling and slow or endless answers: every wait bounded, nothing lost in silence."""

from __future__ import annotations

import functools
import time
from dataclasses import replace

import pytest

from arc_sweeper import runtime
from arc_sweeper.http_pipeline import HttpLimits
from local_stack.simulator import ThrottleSettings
from local_stack.simulator.resource_graph import make_skip_token
from local_stack.simulator.scripted import Script, patches, resource_graph
from local_stack.simulator.wire import ArmError, Response
from tests.e2e.fleets import SUB_A, SUB_B
from tests.e2e.support import simple_fleet
from tests.faults.support import Expect

ONE_SUBSCRIPTION_PER_QUERY = {"RESOURCE_GRAPH_BATCH_SIZE": "1", "MAX_RETRY_WAIT": "PT5S"}
TASK_SCHEDULED = 4


def attempts_of(trial, run_id: str, activity: str) -> int:
    return sum(
        1 for e in trial.stack.host.history(run_id) if e["EventType"] == TASK_SCHEDULED and e.get("Name") == activity
    )


CODES = {429: "RateLimiting", 503: "ServiceUnavailable"}


def refusal(status: int, retry_after_s: int) -> ArmError:
    return ArmError(
        status, CODES[status], "Injected by the fault campaign.", headers={"Retry-After": str(retry_after_s)}
    )


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("lasting", ["transient", "persistent"])
def test_resource_graph_throttling_or_failing_a_discovery_batch(make_trial, status, lasting):
    """Transient: two refusals, waited out and retried. Persistent, with Retry-After 86400 (not waited
    for): the activity is retried by the orchestration, then the batch is recorded not swept."""
    trial = make_trial(simple_fleet({SUB_A: 3, SUB_B: 2}), env=ONE_SUBSCRIPTION_PER_QUERY)
    transient = lasting == "transient"
    trial.sim.script(
        Script(
            when=resource_graph(subscription=SUB_A),
            times=2 if transient else None,
            refuse=refusal(status, 1 if transient else 86_400),
        )
    )
    started = time.monotonic()

    run_id = trial.run_daily()

    assert time.monotonic() - started < 30  # a day's Retry-After is never waited for
    if transient:
        assert attempts_of(trial, run_id, "discover_machines") == 2
        trial.check(run_id)
    else:
        assert attempts_of(trial, run_id, "discover_machines") == 1 + 3  # SUB_B once, SUB_A three times
        trial.check(run_id, Expect(not_swept=frozenset({SUB_A}), names=(CODES[status],)))


@pytest.mark.parametrize("retry_after_s", [86_400, 30])
def test_a_patch_throttled_with_a_retry_after_past_max_retry_wait(make_trial, retry_after_s):
    """MAX_RETRY_WAIT is 5 s: neither a day nor 30 s is waited; that machine is refused and reported,
    the others of its subscription are sent by the retried activity."""
    trial = make_trial(simple_fleet({SUB_A: 4, SUB_B: 2}), env={"MAX_RETRY_WAIT": "PT5S"})
    throttled = trial.sim.script(
        Script(
            when=patches(SUB_A),
            times=1,
            refuse=ArmError(
                429, "TooManyRequests", "Injected by the fault campaign.", headers={"Retry-After": str(retry_after_s)}
            ),
        )
    )
    started = time.monotonic()

    run_id = trial.run_daily()

    assert time.monotonic() - started < 20
    [machine] = [r.path for r in trial.sim.requests if r.method == "PATCH" and r.status == 429]
    assert throttled.hits == 1
    trial.check(run_id, Expect(unpatched=frozenset({trial.fleet.machine_by_id(machine).id})))


def test_a_resource_graph_quota_that_resets_only_tomorrow(make_trial):
    """The first query says the quota is spent until a day from now: the next batch does not wait for it."""

    def spent_for_a_day(request, response: Response) -> Response:
        return replace(
            response,
            headers={**response.headers, "x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": "24:00:00"},
        )

    trial = make_trial(simple_fleet({SUB_A: 3, SUB_B: 2}), env=ONE_SUBSCRIPTION_PER_QUERY)
    trial.sim.script(Script(when=resource_graph(subscription=SUB_A), times=1, transform=spent_for_a_day))
    started = time.monotonic()

    run_id = trial.run_daily()

    assert time.monotonic() - started < 30
    trial.check(run_id, Expect(not_swept=frozenset({SUB_B}), names=("Resource Graph quota",)))


@pytest.mark.parametrize("answer", ["PATCH", "Resource Graph"])
def test_an_answer_trickling_one_byte_at_a_time(make_trial, monkeypatch, answer):
    """Each byte comes well within the read timeout, the whole never: the call's deadline (3 s here) ends it."""
    monkeypatch.setattr(runtime, "HttpLimits", functools.partial(HttpLimits, deadline_s=3.0))
    trial = make_trial(simple_fleet({SUB_A: 3, SUB_B: 2}), env=ONE_SUBSCRIPTION_PER_QUERY)
    when = patches(SUB_A) if answer == "PATCH" else resource_graph(subscription=SUB_A)
    trickle = trial.sim.script(Script(when=when, times=1, trickle_s=0.05))
    started = time.monotonic()

    run_id = trial.run_daily()

    assert trickle.cut_off == 1 and time.monotonic() - started < 30
    trial.check(run_id)  # the PATCH whose answer never came was read back, not sent again


def test_a_resource_graph_that_hands_out_new_skip_tokens_forever(make_trial):
    def endless(request, response: Response) -> Response:
        query = request.json_body()["query"]
        offset = int(time.monotonic() * 1000)  # a token never seen before, for an offset past every row
        return replace(response, body={**response.body, "$skipToken": make_skip_token(offset, query)})

    trial = make_trial(simple_fleet({SUB_A: 3, SUB_B: 2}), env=ONE_SUBSCRIPTION_PER_QUERY)
    trial.sim.script(Script(when=resource_graph(subscription=SUB_A), transform=endless))
    started = time.monotonic()

    run_id = trial.run_daily()

    assert time.monotonic() - started < 30
    trial.check(run_id, Expect(not_swept=frozenset({SUB_A}), names=("skipToken",)))


def test_an_enabling_chunk_under_heavy_throttling_keeps_within_its_time_budget(make_trial):
    """ARM grants 4 writes a second after a burst of 8; ENABLE_TIME_BUDGET (PT1M, run 60 times faster here) ends
    each call early, and the orchestration continues the chunk in a new call, well inside functionTimeout."""
    trial = make_trial(simple_fleet({SUB_A: 16}), env={"ENABLE_BATCH_SIZE": "16", "ENABLE_TIME_BUDGET": "PT1M"})
    trial.sim.set_throttling(ThrottleSettings(write_burst=8, write_refill_per_second=4.0))
    enabling = runtime.steps().enabling
    began = time.monotonic()
    object.__setattr__(enabling, "monotonic", lambda: began + (time.monotonic() - began) * 60)
    calls: list[float] = []
    real = type(enabling).enable_chunk

    def timed(self, work):
        start = time.monotonic()
        try:
            return real(self, work)
        finally:
            calls.append(time.monotonic() - start)

    object.__setattr__(enabling, "enable_chunk", timed.__get__(enabling))

    run_id = trial.run_daily()

    # Each call: the budget (1 s here) plus the drain of the PATCHes in flight, far below the 30 s that
    # functionTimeout would be at this pace.
    assert len(calls) > 1 and max(calls) < 1.0 + 4.0, calls
    trial.check(run_id)
