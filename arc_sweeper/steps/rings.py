"""Step 1b (staged rollout only): decide which rings may be enabled today, and by-hand openings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from arc_sweeper.clock import utc_now
from arc_sweeper.messages import EvaluateRings, RingPlan
from arc_sweeper.ports import RingStore
from arc_sweeper.records import RingRecord
from arc_sweeper.rings import decide, health_by_ring, opened_by_hand
from arc_sweeper.settings import Settings
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.vocabulary import RingState

log = logging.getLogger(__name__)


class RingsNotConfigured(Exception):
    """The staged rollout is off (RING_TAG and RING_SUBSCRIPTIONS are blank)."""


@dataclass(frozen=True)
class RingsStep:
    settings: Settings
    store: RingStore

    def evaluate(self, work: EvaluateRings) -> RingPlan:
        """Measure every ring from the fleet table and apply the gates; the decision is recorded."""
        policy = self.settings.ring_policy
        if policy is None:
            raise RingsNotConfigured("no rings are configured")
        now = parse_timestamp(work.as_of)
        assert now is not None, "as_of comes from the orchestration clock"
        fleet = list(self.store.fleet_everywhere())
        known = {row.ring for row in fleet if row.ring >= 0} | set(policy.by_subscription.values())
        rings = decide(known, self.store.rings(), health_by_ring(fleet), now, policy)
        self.store.put_rings(rings)
        for ring in rings:
            if ring.state == RingState.HELD:
                log.warning("run %s: ring %d is held: %s", work.run_id, ring.ring, ring.decision)
        return RingPlan(
            open_rings=tuple(r.ring for r in rings if r.state == RingState.OPEN),
            last_ring=max(r.ring for r in rings),
            waiting={
                str(r.ring): f"ring {r.ring} is {r.state}: {r.decision}" for r in rings if r.state != RingState.OPEN
            },
        )

    def open_by_hand(self, ring: int, who: str, reason: str) -> RingRecord:
        """An operator opens a ring whatever its gate says; recorded with who, when and why."""
        record = opened_by_hand(self.store.rings().get(ring) or RingRecord(ring), who, reason, utc_now())
        self.store.put_rings([record])
        log.warning("ring %d opened by hand by %s: %s", ring, who, reason)
        return record

    def all(self) -> list[RingRecord]:
        return [ring for _, ring in sorted(self.store.rings().items())]
