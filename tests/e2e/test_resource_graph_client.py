"""The product's Resource Graph client against the simulator: quota headers are respected."""

from __future__ import annotations

import time

from arc_sweeper.credentials import DevelopmentCredential
from arc_sweeper.resource_graph import ResourceGraph
from arc_sweeper.throttling import GraphQuota, QuotaGate
from local_stack.clock import VirtualClock
from local_stack.simulator import FleetSimulator, ThrottleSettings
from tests.e2e.support import guid, simple_fleet


def test_an_exhausted_quota_is_waited_out_before_the_next_query():
    subs = [guid(n) for n in (31, 32, 33, 34)]
    fleet = simple_fleet({sub: 3 for sub in subs})
    with FleetSimulator(fleet, VirtualClock(fleet.created_at)) as sim:
        sim.set_throttling(ThrottleSettings(arg_quota=2, arg_window_seconds=1.5))
        graph = ResourceGraph(sim.base_url, DevelopmentCredential(), subscriptions_per_query=1)
        started = time.monotonic()
        gate = QuotaGate(GraphQuota(), max_wait_s=60)
        machines = list(graph.find_machines(subs, gate))
        elapsed = time.monotonic() - started

    assert len(machines) == 12 and len({m.id for m in machines}) == 12
    queries = [r for r in sim.requests if "resourcegraph" in r.path.lower()]
    assert [r.status for r in queries] == [200, 200, 200, 200]  # the gate waited: no 429 was needed
    assert [r.query.get("api-version") for r in queries] == ["2021-03-01"] * 4
    assert all(r.body["options"]["$top"] == 1000 for r in queries)
    assert elapsed >= 1.0  # two windows of two queries each

    assert gate.state().remaining == 0  # the quota the next activity receives: spent in this window
