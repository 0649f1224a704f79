"""One bad part of the estate or of the day must not sink the run: the rest is swept, the bad part reported."""
from __future__ import annotations

from tests.e2e.fleets import SUB_A, SUB_B
from tests.e2e.support import simple_fleet
from tests.faults.storage_proxy import Rule, machine_rows
from tests.faults.support import Expect

OUT_OF_RANGE = "0001-01-01T00:00:00+01:00"  # before year 1 once in UTC: no Python datetime holds it


def test_one_subscription_whose_enabling_fails_while_another_is_still_enabling(make_trial):
    """SUB_B's rows cannot be written at all; SUB_A meets one storage hiccup in each of its ten chunks.

    SUB_B's sub-orchestration fails (its chunk and the recording of its failure both fail
    three times) while SUB_A still has chunks to go: the run must wait for SUB_A, count and
    follow every machine it enabled, and name SUB_B.
    """
    trial = make_trial(simple_fleet({SUB_A: 10, SUB_B: 2}), env={"ENABLE_BATCH_SIZE": "1"})
    for result in ("sending", "failed"):
        trial.storage.add(Rule(machine_rows(result, SUB_B), operations=None))
    for chunk in range(10):
        trial.storage.add(Rule(machine_rows("sending", SUB_A, chunk)))

    run_id = trial.run_daily()

    assert trial.stack.host.status(f"{run_id}:enable:{SUB_B}").runtime_status == "Failed"
    sub_b = {m.id for m in trial.fleet.machines if m.subscription_id == SUB_B}
    trial.check(run_id, Expect(unpatched=frozenset(sub_b), names=(SUB_B,)))
