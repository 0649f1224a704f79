"""Helpers shared by the end-to-end tests: simple fleets, the store, and pausing the host."""

from __future__ import annotations

import json
import os
from datetime import timedelta

from azure.data.tables import TableServiceClient

from arc_sweeper.tables import SweepStore
from local_stack.simulator.agents import UpgradeBehaviour
from local_stack.simulator.fleet import Fleet, Machine, Subscription
from tests.e2e.fleets import NEW, START

COMPLIANT = "1.67.03504.1320"
# Enabled at 09:00, ready an hour later, upgraded in the next night's window: settled by
# the first poll a day later, so a follow-up costs one poll.
QUICK = dict(propagation_delay=timedelta(hours=1), window_offset=timedelta(minutes=10))
QUICK_FOLLOW_UP = {"FOLLOW_UP_WINDOW": "P2D", "POLL_INTERVAL": "P1D"}


def guid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-{n:012x}"


def to_enable(sub: str, rg: str, name: str) -> Machine:
    """A connected agent on a recent release with automatic upgrade off: the sweep enables it."""
    return Machine.build(
        sub, rg, name, agent_version=NEW, auto_upgrade=False, behaviour=UpgradeBehaviour("succeed", **QUICK)
    )


def compliant(sub: str, rg: str, name: str) -> Machine:
    return Machine.build(sub, rg, name, agent_version=COMPLIANT, auto_upgrade=True, extensions=[])


def machine_name(sub: str, i: int, prefix: str = "vm") -> str:
    return f"{prefix}-{sub[:4]}-{i:03d}"


def simple_fleet(machines_per_subscription: dict[str, int], *, prefix: str = "vm") -> Fleet:
    """Every machine needs enabling and upgrades by the first poll."""
    subscriptions = [Subscription(sub, f"Sub {i}") for i, sub in enumerate(machines_per_subscription)]
    machines = [
        to_enable(sub, "rg-app", machine_name(sub, i, prefix))
        for sub, count in machines_per_subscription.items()
        for i in range(count)
    ]
    return Fleet(subscriptions, machines, created_at=START)


def store_of(stack) -> SweepStore:
    return SweepStore.from_connection_string(stack.storage_connection, os.environ["TABLE_PREFIX"])


def machine_entities(stack, run_id: str) -> list[dict]:
    """Every raw entity of the run in the machines table (duplicates would show here)."""
    service = TableServiceClient.from_connection_string(stack.storage_connection)
    table = service.get_table_client(f"{os.environ['TABLE_PREFIX']}machines")
    return list(table.query_entities(f"PartitionKey ge '{run_id}|' and PartitionKey lt '{run_id}}}'"))


def sweep_instances(stack) -> list:
    return [i for i in stack.host.instances() if i.name == "sweep_orchestrator"]


def body(response) -> dict:
    return json.loads(response.get_body())


class Paused(Exception):
    """Raised out of the host's loop when it would jump the virtual clock to a durable timer."""


def pump_until_waiting(stack, monkeypatch, run_id: str) -> None:
    """Work the host until every orchestration waits on a durable timer, then stop.

    The sweep's first durable timer is the follow-up's poll: stopping there leaves the run
    in its following phase with no activity in flight.
    """

    def refuse(moment):
        raise Paused(moment)

    with monkeypatch.context() as patch:
        patch.setattr(stack.host.clock, "advance_to", refuse)
        try:
            stack.run_to_completion(run_id, timeout_s=120)
        except Paused:
            return
    raise AssertionError(f"{run_id} finished without waiting on a durable timer")


def arg_requests(sim) -> list:
    return [r for r in sim.requests if r.method == "POST" and "resourcegraph" in r.path.lower()]
