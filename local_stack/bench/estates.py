"""The estates `make bench` sweeps, the simulator's limits for each, and their throttle floor.

The throttle floor is the least time Azure's budgets allow, computed from the limits the
simulator enforces (``ThrottleSettings``) and from what a correct sweep must send (the
fleet's fate ledger): Resource Graph pages at the quota rate, then every subscription's
writes in parallel, each subscription's burst at once and the rest at its refill rate.
One request's service time is added to each phase: the last answer still takes that long.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from arc_sweeper.resource_graph import PAGE_SIZE
from arc_sweeper.setting_values import DEFAULT_RESOURCE_GRAPH_BATCH_SIZE
from local_stack.simulator import Fleet, FleetSpec, Latency, Machine, ThrottleSettings, generate_fleet
from local_stack.simulator.fates import PATCH, REFUSED

RESOURCE_GRAPH_BATCH = DEFAULT_RESOURCE_GRAPH_BATCH_SIZE
"""Subscriptions per Resource Graph request: the product's default RESOURCE_GRAPH_BATCH_SIZE."""


@dataclass(frozen=True)
class Estate:
    """A generated estate and the limits the simulator enforces on it."""

    name: str
    machines: int
    subscriptions: int
    throttling: ThrottleSettings
    latency: Latency
    seed: int = 7

    def fleet(self, now: datetime) -> Fleet:
        return generate_fleet(
            FleetSpec(seed=self.seed, machines=self.machines, subscriptions=self.subscriptions, now=now)
        )


@dataclass(frozen=True)
class Floor:
    """What the estate needs from Azure, and the least time that takes."""

    writes: int  # PATCHes a correct sweep sends (to succeed, or to be refused)
    largest_subscription: int  # writes to the busiest subscription
    pages: int  # Resource Graph pages of machines, batch by batch
    batches: int
    extension_pages: int  # pages of their extensions, which the product also reads (EXTENSION_UPGRADE_MODE=report)
    discovery_s: float
    enabling_s: float

    @property
    def sweep_s(self) -> float:
        return self.discovery_s + self.enabling_s

    @classmethod
    def of(cls, fleet: Fleet, limits: ThrottleSettings, latency: Latency) -> Floor:
        per_subscription = Counter(
            m.subscription_id for m in fleet.machines if fleet.fates[m.id].expect in (PATCH, REFUSED)
        )
        largest = max(per_subscription.values(), default=0)
        pages = [max(1, math.ceil(rows / PAGE_SIZE)) for rows in _rows_per_batch(fleet, lambda m: 1)]
        extension_pages = [
            max(1, math.ceil(rows / PAGE_SIZE)) for rows in _rows_per_batch(fleet, lambda m: len(m.extensions))
        ]
        return cls(
            writes=sum(per_subscription.values()),
            largest_subscription=largest,
            pages=sum(pages),
            batches=len(pages),
            extension_pages=sum(extension_pages),
            discovery_s=limits.arg_floor_seconds(sum(pages)) + latency.read_s,
            enabling_s=limits.arm_floor_seconds(largest, "write") + latency.write_s if largest else 0.0,
        )


def _rows_per_batch(fleet: Fleet, rows_of: Callable[[Machine], int]) -> list[int]:
    """Rows Resource Graph returns for each batch (`rows_of` a machine: 1, or its extensions), batched as
    the product does (scope.py): listed Enabled subscriptions in id order, RESOURCE_GRAPH_BATCH at a time."""
    in_scope = sorted(s.subscription_id for s in fleet.subscriptions if s.readable and s.state == "Enabled")
    rows: Counter[str] = Counter()
    for machine in fleet.machines:
        if not machine.deleted:
            rows[machine.subscription_id] += rows_of(machine)
    return [
        sum(rows[s] for s in in_scope[i : i + RESOURCE_GRAPH_BATCH])
        for i in range(0, len(in_scope), RESOURCE_GRAPH_BATCH)
    ]
