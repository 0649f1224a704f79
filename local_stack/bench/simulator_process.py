"""The fleet simulator in its own process, on the real clock, and what its request log says.

Everything the benchmark reports about Azure's side is counted here, from the requests the
simulator served: PATCHes, 429s, requests sent before a Retry-After had passed, Resource
Graph requests, and whether the sweep did what the fleet's fate ledger says it must.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection

from local_stack.bench.estates import Estate, Floor
from local_stack.bench.processes import Child, Cost, cpu_now
from local_stack.clock import RealClock
from local_stack.simulator import FleetSimulator
from local_stack.simulator.agents import CONNECTED

STATS, STOP = "stats", "stop"


@dataclass(frozen=True)
class Ready:
    base_url: str
    floor: Floor


@dataclass(frozen=True)
class SimulatorStats:
    patches: int
    patches_throttled: int
    early: int  # requests sent before their scope's Retry-After had passed
    arg_requests: int
    arg_throttled: int
    arg_batches: int  # distinct sets of subscriptions queried
    first_patch_at: float  # wall clock (time.time()) when the simulator served it
    last_patch_at: float
    last_granted: tuple[float, ...]  # wall times of the granted PATCHes of the subscription that finished last
    problems: tuple[str, ...]  # the fate ledger's complaints: machines missed or wrongly PATCHed
    repeated: int  # machines given more than one PATCH that was not throttled
    drifted: int  # of the machines missed, those now disconnected or deleted (a fate is decided at the start)
    cost: Cost


def serve(connection: Connection, estate: Estate) -> None:
    """Child process: serve the estate until told to stop; answer STATS on the way."""
    fleet = estate.fleet(datetime.now(UTC).replace(microsecond=0))
    simulator = FleetSimulator(fleet, RealClock(), throttling=estate.throttling, latency=estate.latency)
    with simulator:
        cpu_at_start = cpu_now()
        connection.send(Ready(simulator.base_url, Floor.of(fleet, simulator.throttling, estate.latency)))
        while connection.recv() == STATS:
            connection.send(simulator_stats(simulator, cpu_at_start))


def simulator_stats(simulator: FleetSimulator, cpu_at_start: float) -> SimulatorStats:
    requests = list(simulator.requests)
    patches = [r for r in requests if r.method == "PATCH"]
    graph = [r for r in requests if r.method == "POST" and "resourcegraph" in r.path.lower()]
    granted = [r for r in patches if r.status != 429]
    answered = Counter(r.path.lower() for r in granted)
    last = subscription_of(max(granted, key=lambda r: r.wall_time).path) if granted else ""
    assert simulator.fleet.fates is not None
    succeeded = simulator.patch_targets(succeeded=True)
    problems = simulator.fleet.fates.check(sent=simulator.patch_targets(), succeeded=succeeded)
    missed = [simulator.fleet.machine_by_id(mid) for mid in simulator.fleet.fates.must_patch() - succeeded]
    return SimulatorStats(
        patches=len(patches),
        patches_throttled=sum(r.status == 429 for r in patches),
        early=simulator.early_after_retry_after,
        arg_requests=len(graph),
        arg_throttled=sum(r.status == 429 for r in graph),
        arg_batches=len({tuple(r.body.get("subscriptions") or ()) for r in graph if isinstance(r.body, dict)}),
        first_patch_at=min((r.wall_time for r in patches), default=0.0),
        last_patch_at=max((r.wall_time for r in patches), default=0.0),
        last_granted=tuple(sorted(r.wall_time for r in granted if subscription_of(r.path) == last)),
        problems=tuple(problems),
        repeated=sum(1 for n in answered.values() if n > 1),
        drifted=sum(1 for m in missed if m is None or m.deleted or m.properties.get("status") != CONNECTED),
        cost=Cost.of_this_process(cpu_at_start),
    )


def subscription_of(path: str) -> str:
    """`/subscriptions/<id>/...` -> `<id>` (lowercased)."""
    parts = path.lower().split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "subscriptions" else ""


class SimulatorProcess:
    """``with SimulatorProcess(estate) as sim: sim.ready.base_url ... sim.stats()``"""

    def __init__(self, estate: Estate) -> None:
        self._estate = estate

    def __enter__(self) -> SimulatorProcess:
        self._child = Child(serve, self._estate)
        self.ready: Ready = self._child.receive(timeout_s=900)
        return self

    def stats(self) -> SimulatorStats:
        stats: SimulatorStats = self._child.ask(STATS)
        return stats

    def __exit__(self, *exc: object) -> None:
        try:
            self._child.send(STOP)
        finally:
            self._child.close()
