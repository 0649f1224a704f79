"""One bad part of the estate or of the day must not sink the run: the rest is swept, the bad part reported."""

from __future__ import annotations

from datetime import timedelta

import pytest

from local_stack.simulator import FleetSpec, generate_fleet
from local_stack.simulator.agents import UpgradeBehaviour
from local_stack.simulator.odd_estate import ACCENTED_GROUP, CJK_GROUP
from local_stack.simulator.scripted import Script, subscription_reads
from tests.e2e.fleets import SUB_A, SUB_B
from tests.e2e.support import simple_fleet
from tests.faults.storage_proxy import Rule, machine_rows
from tests.faults.support import Expect

OUT_OF_RANGE = "0001-01-01T00:00:00+01:00"  # before year 1 once in UTC: no Python datetime holds it
QUICK_DELAY = timedelta(hours=1)


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


def test_an_estate_with_odd_but_legal_names(make_trial):
    """Resource groups of 90 accented letters and of ~50 CJK characters, names at ARM's limits, every state."""
    fleet = generate_fleet(
        FleetSpec(
            seed=11,
            subscriptions=2,
            machines=12,
            odd_but_legal=True,
            failure_share=0.0,
            propagation_delay=(QUICK_DELAY, QUICK_DELAY),
        )
    )
    groups = {m.resource_group for m in fleet.machines}
    assert {ACCENTED_GROUP, CJK_GROUP} <= groups
    trial = make_trial(fleet)
    trial.check(trial.run_daily())


def test_an_agent_timestamp_outside_pythons_datetime_range(make_trial):
    """One cohort machine reports a failed attempt at 0001-01-01T00:00:00+01:00 and changed status then."""
    fleet = simple_fleet({SUB_A: 4})
    odd = fleet.machines[0]
    odd.behaviour = UpgradeBehaviour("never-attempts")  # keeps the odd values: the agent never overwrites them
    odd.properties["agentUpgrade"].update(
        lastAttemptStatus="Failed", lastAttemptTimestamp=OUT_OF_RANGE, lastAttemptMessage="AZCM0165: odd clock"
    )
    odd.properties["lastStatusChange"] = OUT_OF_RANGE
    odd.revision += 1
    trial = make_trial(fleet)
    run_id = trial.run_daily()
    trial.check(run_id)
    assert trial.store.get_run(run_id).outcome_counts.get("upgraded") == 3  # the others were followed to the end


@pytest.mark.parametrize("read", ["one subscription", "the subscription list"])
def test_malformed_json_from_arm_in_a_subscription_read(make_trial, read):
    trial = make_trial(
        simple_fleet({SUB_A: 3, SUB_B: 2}),
        env={"SUBSCRIPTION_ALLOW_LIST": f"{SUB_A},{SUB_B}" if read == "one subscription" else ""},
    )
    subscription = SUB_B if read == "one subscription" else ""
    trial.sim.script(Script(when=subscription_reads(subscription), raw_body=b'{"value": [{"subscriptionId": "'))

    run_id = trial.run_daily()

    if read == "one subscription":  # SUB_B is skipped with the reason; SUB_A is swept
        [skipped] = [s for s in trial.store.subscriptions(run_id) if s.subscription_id == SUB_B]
        assert not skipped.in_scope and "InvalidResponse" in skipped.skip_reason
        trial.check(run_id, Expect(scope=frozenset({SUB_A}), names=(SUB_B, "InvalidResponse")))
    else:  # nothing can be swept without the list: the run fails and says why
        trial.check(run_id, Expect(status="failed", names=("InvalidResponse",)))


def test_malformed_resource_graph_ids_are_never_followed(make_trial):
    fleet = simple_fleet({SUB_A: 6, SUB_B: 6})
    trial = make_trial(fleet)
    corrupted = trial.sim.corrupt_arg_ids(("dot-dot", "other-type", "query-string", "foreign-subscription"))
    assert all(fleet.fates[m.id].expect == "leave" for m in corrupted.values())
    trial.check(trial.run_daily())
