"""The fault campaign's one judge: the invariants every fault is held to, and the campaign's figures.

After a fault, whatever it was, a sweep must still have:

1. PATCHed every machine its fate says to PATCH exactly once (a PATCH counts when ARM applied
   it: answered 2xx, whether or not the answer reached the sweeper), and no machine it must
   leave;
2. a row for every machine of every readable, sweepable subscription in its scope;
3. ended `completed` (or `failed` with the reason, where nothing could be done);
4. told the operator what failed: the alert names it.

Each check adds the fault's figures to CAMPAIGN; the campaign's conftest writes them out
(tests/artifacts/fault-campaign.json) and the README quotes them.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from arc_sweeper.tables import SweepStore
from local_stack.simulator import FleetSimulator
from local_stack.simulator.fates import FateLedger
from local_stack.simulator.fleet import Fleet
from tests.e2e.support import machine_entities
from tests.faults.storage_proxy import StorageProxy


@dataclass(frozen=True)
class Expect:
    """What a fault may leave behind, and what the operator must be told."""

    status: str = "completed"
    unpatched: frozenset[str] = frozenset()  # machine ids the fault leaves unpatched: each named by the alert
    not_swept: frozenset[str] = frozenset()  # subscriptions that could not be read: recorded, in the alert
    names: tuple[str, ...] = ()  # what failed, as the alert must say it
    scope: frozenset[str] | None = None  # the run's subscriptions (None: every one)
    writes: bool = True  # False: a dry run, no PATCH at all


@dataclass(frozen=True)
class Figures:
    fault: str
    run_id: str
    machines: int
    patched: int
    machines_lost: int
    duplicate_patches: int
    whole_run_failures: int


CAMPAIGN: list[Figures] = []


@dataclass
class Trial:
    """One fault's world: the app on the local host, the simulator, the alert receiver, the storage proxy."""

    stack: Any
    sim: FleetSimulator
    receiver: Any
    storage: StorageProxy
    fault: str = ""
    runs_checked: list[str] = field(default_factory=list)

    @property
    def fleet(self) -> Fleet:
        return self.sim.fleet

    @property
    def store(self) -> SweepStore:
        return SweepStore.from_connection_string(self.stack.storage_connection, os.environ["TABLE_PREFIX"])

    def run_daily(self, timeout_s: float = 60) -> str:
        """Fire the daily timer and work the run to its end; its run id."""
        self.stack.fire_timer()
        [run_id] = [i.instance_id for i in self.stack.host.instances() if i.name == "sweep_orchestrator"]
        self.stack.run_to_completion(run_id, timeout_s=timeout_s)
        return run_id

    def check(self, run_id: str, expect: Expect = Expect()) -> Figures:
        return assert_campaign_invariants(self, run_id, expect)


def applied_patches(sim: FleetSimulator) -> Counter[str]:
    """PATCHes ARM applied (2xx), per machine id as the fleet spells it."""
    counts: Counter[str] = Counter()
    for r in sim.requests:
        if r.method == "PATCH" and 200 <= r.status < 300:
            machine = sim.fleet.machine_by_id(r.path)
            counts[machine.id if machine is not None else r.path] += 1
    return counts


def sweepable_machines(fleet: Fleet, expect: Expect) -> dict[str, str]:
    """Machine id -> the id Resource Graph reports, for every machine whose subscription the run must read."""
    subscriptions = {
        s.subscription_id
        for s in fleet.subscriptions
        if s.readable
        and not s.deleted
        and s.state == "Enabled"
        and (expect.scope is None or s.subscription_id in expect.scope)
        and s.subscription_id not in expect.not_swept
    }
    return {m.id: (m.arg_id or m.id) for m in fleet.machines if m.subscription_id in subscriptions and not m.deleted}


def alerts_of(receiver: Any, run_id: str) -> list[dict[str, Any]]:
    return [p for p in receiver.payloads if p.get("runId") == run_id]


def assert_campaign_invariants(trial: Trial, run_id: str, expect: Expect = Expect()) -> Figures:
    sim, fleet = trial.sim, trial.fleet
    fates = fleet.fates or FateLedger.of(fleet)

    # 1. exactly once, and never where a machine must be left
    applied = applied_patches(sim)
    in_scope = set(sweepable_machines(fleet, expect))
    must = (
        (fates.must_patch() & in_scope) - expect.unpatched if expect.writes and expect.status == "completed" else set()
    )
    duplicates = sum(n - 1 for n in applied.values() if n > 1)
    unpatched = sorted(must - set(applied))
    assert not unpatched, f"{len(unpatched)} machines never PATCHed: {unpatched[:5]}"
    assert duplicates == 0, f"duplicate PATCHes: {[(m, n) for m, n in applied.items() if n > 1][:5]}"
    assert not expect.unpatched & set(applied), "a machine the fault should have kept from its PATCH was PATCHed"
    leave = fates.must_not_patch() if expect.writes else set(fates)
    wrongly = sorted(leave & sim.patch_targets())
    assert not wrongly, f"PATCHed but must be left: {wrongly[:5]}"

    # 2. a row for every machine of every readable, sweepable subscription
    entities = machine_entities(trial.stack, run_id)
    recorded = {e["resource_id"].lower() for e in entities}
    expected = sweepable_machines(fleet, expect) if expect.status == "completed" else {}  # failed: none read
    lost = sorted(m for m, reported in expected.items() if reported.lower() not in recorded)
    assert not lost, f"{len(lost)} machines without a row: {lost[:5]}"

    # 3. how the run ended
    run = trial.store.get_run(run_id)
    assert run is not None, f"run {run_id} has no row"
    orchestration = trial.stack.host.status(run_id)
    assert (run.status, run.phase) == (expect.status, "done"), (run.status, run.phase, run.error)
    assert orchestration.runtime_status == {"completed": "Completed", "failed": "Failed"}[expect.status], (
        orchestration.error
    )
    if expect.status == "failed":
        assert run.error, "a failed run must say why"
    enabled = sum(1 for e in entities if e["action_result"] == "enabled")
    assert run.cohort_size == enabled, f"the digest counted {run.cohort_size} enabled machines, the rows say {enabled}"

    # 4. the alert names what failed
    alerts = alerts_of(trial.receiver, run_id)
    kinds = [a["kind"] for a in alerts]
    assert (kinds[:1] == ["sweep_failed"]) if expect.status == "failed" else (kinds[:1] == ["sweep_completed"]), kinds
    told = json.dumps(alerts, ensure_ascii=False)
    for name in expect.names:
        assert name in told, f"the alert does not name {name!r}: {told[:2000]}"
    digest = alerts[0]
    named = {(i["kind"], i.get("subscriptionId", ""), i.get("name", "")) for i in digest["attention"]["items"]}
    for subscription in expect.not_swept:
        assert any(k == "subscription_not_swept" and s == subscription for k, s, _ in named), named
    for machine_id in expect.unpatched:
        subscription, name = machine_id.split("/")[2], machine_id.rsplit("/", 1)[1]
        assert subscription in told or any(k == "enable_failed" and n == name for k, _, n in named), (
            f"the alert names neither {name} nor its subscription"
        )

    figures = Figures(
        trial.fault,
        run_id,
        len(expected),
        sum(applied.values()),
        len(lost),
        duplicates,
        int(expect.status == "completed" and run.status != "completed"),
    )
    CAMPAIGN.append(figures)
    trial.runs_checked.append(run_id)
    return figures


def write_campaign(path: str, cases: list[str]) -> dict[str, Any]:
    """The campaign's figures, as the README states them."""
    report = {
        "faults_tried": len(cases),
        "machines_lost": sum(f.machines_lost for f in CAMPAIGN),
        "duplicate_patches": sum(f.duplicate_patches for f in CAMPAIGN),
        "whole_run_failures_caused_by_one_bad_part": sum(f.whole_run_failures for f in CAMPAIGN),
        "faults": cases,
        "runs": [asdict(f) for f in CAMPAIGN],
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return report
