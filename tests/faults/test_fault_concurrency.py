"""Concurrency: overlapping sweeps asked for at once, or while one is still enabling."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from local_stack.simulator.scripted import Script, patches
from tests.e2e.fleets import SUB_A, SUB_B
from tests.e2e.support import body, simple_fleet, store_of
from tests.faults.support import Expect

SCOPE = {"subscriptions": [SUB_A, SUB_B]}


def test_six_concurrent_posts_for_the_same_scope(make_trial):
    trial = make_trial(simple_fleet({SUB_A: 4, SUB_B: 3}))
    start = threading.Barrier(6)

    def post(_):
        start.wait()
        return trial.stack.post_sweep(SCOPE)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(post, range(6)))

    assert Counter(a.status_code for a in answers) == {202: 1, 409: 5}, [a.get_body() for a in answers]
    [winner] = [body(a)["runId"] for a in answers if a.status_code == 202]
    assert {body(a)["runId"] for a in answers if a.status_code == 409} == {winner}  # each refusal names it
    assert [i.instance_id for i in trial.stack.host.instances() if i.name == "sweep_orchestrator"] == [winner]
    trial.stack.run_to_completion(winner)
    trial.check(winner, Expect(scope=frozenset(SCOPE["subscriptions"])))


class Pause:
    """Holds the first matching request until released; says when it is held."""

    def __init__(self) -> None:
        self.held, self.released = threading.Event(), threading.Event()

    def __call__(self, request) -> None:
        self.held.set()
        assert self.released.wait(30), "the test never released the pause"


def test_the_daily_timer_fires_while_an_on_demand_sweep_is_enabling(make_trial):
    trial = make_trial(simple_fleet({SUB_A: 6, SUB_B: 3}), env={"MAX_PARALLEL_WRITES_PER_SUBSCRIPTION": "1"})
    pause = Pause()
    trial.sim.script(Script(when=patches(SUB_A), after=2, times=1, before=pause))
    on_demand = body(trial.stack.post_sweep({"subscriptions": [SUB_A]}))["runId"]
    worker = threading.Thread(target=trial.stack.run_to_completion, args=(on_demand,), daemon=True)
    worker.start()
    assert pause.held.wait(30)

    trial.stack.fire_timer()  # every subscription: overlaps the sweep still enabling SUB_A

    pause.released.set()
    worker.join(60)
    [daily] = [
        i.instance_id
        for i in trial.stack.host.instances()
        if i.name == "sweep_orchestrator" and i.instance_id != on_demand
    ]
    trial.stack.run_to_completion(daily)
    trial.check(on_demand, Expect(scope=frozenset({SUB_A})))  # each machine PATCHed once: by the on-demand sweep
    run = store_of(trial.stack).get_run(daily)
    assert (run.dry_run, run.blocked_by) == (True, on_demand)  # the day is not skipped silently: it reports only
    [digest] = [p for p in trial.receiver.payloads if p["runId"] == daily and p["kind"] == "sweep_completed"]
    assert digest["severity"] == "warning" and digest["dryRun"]
    assert any(f"sweep {on_demand} is still enabling an overlapping scope" in n for n in digest["notices"])
