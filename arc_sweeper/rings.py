"""Staged rollout: enable automatic upgrade ring by ring, each ring behind a health gate.

A machine's ring comes from a tag (RING_TAG, name compared case-insensitively, value a whole
number) or else from its subscription (RING_SUBSCRIPTIONS); a machine with neither falls in
the last ring. Ring 0 is always open. Ring N+1 opens once ring N has soaked and proved healthy:

- its gate opened at least RING_SOAK ago, so its machines have been followed that long;
- among its enabled machines that settled (upgraded or up to date, against failing or stuck),
  the upgraded share is at least RING_MIN_SUCCESS and the failing share at most RING_MAX_FAILURE;
- at least RING_MIN_SAMPLE of them settled. A smaller ring is judged on its own numbers once
  every machine it enabled has settled, and a ring that had nothing to enable passes on its soak.

A ring that opened stays open. A ring whose gate fails is held, with the numbers and the
failing machines, until they recover or an operator opens it by hand. The decision is pure:
the same recorded facts and time always give the same rings (so a retried activity agrees).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from arc_sweeper.records import FleetRecord, RingRecord
from arc_sweeper.timefmt import iso, parse_timestamp
from arc_sweeper.vocabulary import Outcome, RingState

SUCCEEDED = frozenset({Outcome.UPGRADED, Outcome.UP_TO_DATE})
FAILING = frozenset({Outcome.UPGRADE_FAILED, Outcome.STUCK})
MAX_NAMED_FAILURES = 10


@dataclass(frozen=True)
class RingPolicy:
    tag: str  # "" when rings come from subscriptions only
    by_subscription: Mapping[str, int]  # lowercase subscription GUID -> ring
    soak: timedelta
    min_success: float
    max_failure: float
    min_sample: int

    def ring_of(self, tags: Mapping[str, str], subscription_id: str) -> int | None:
        """The machine's ring, or None: it has no ring and falls in the last one."""
        if self.tag:
            wanted = self.tag.strip().casefold()
            for name, value in tags.items():
                text = str(value).strip()
                if name.strip().casefold() == wanted and text.isascii() and text.isdigit():
                    return int(text)
        return self.by_subscription.get(subscription_id.lower())


@dataclass(frozen=True)
class RingHealth:
    """What one ring's enabled machines did, from the fleet table."""

    enabled: int = 0
    succeeded: int = 0
    failing: int = 0
    failing_names: tuple[str, ...] = ()

    @property
    def settled(self) -> int:
        return self.succeeded + self.failing


def health_by_ring(fleet: Iterable[FleetRecord]) -> dict[int, RingHealth]:
    """Per ring, the machines the sweeper enabled and how their follow-up ended."""
    health: dict[int, RingHealth] = {}
    for row in fleet:
        if row.ring < 0 or not row.enabled_at:
            continue
        h = health.get(row.ring, RingHealth())
        h = replace(h, enabled=h.enabled + 1)
        if row.last_outcome in SUCCEEDED:
            h = replace(h, succeeded=h.succeeded + 1)
        elif row.last_outcome in FAILING:
            names = h.failing_names + (row.name,) if len(h.failing_names) < MAX_NAMED_FAILURES else h.failing_names
            h = replace(h, failing=h.failing + 1, failing_names=names)
        health[row.ring] = h
    return health


def decide(
    rings: Iterable[int],
    before: Mapping[int, RingRecord],
    health: Mapping[int, RingHealth],
    now: datetime,
    policy: RingPolicy,
) -> list[RingRecord]:
    """Every ring's state after this evaluation, lowest ring first."""
    stamp = iso(now)
    decided: list[RingRecord] = []
    for ring in sorted(set(rings) | {0}):
        record = before.get(ring) or RingRecord(ring)
        if record.state == RingState.OPEN:
            decided.append(replace(record, evaluated_at=stamp))
            continue
        if ring == 0:
            decided.append(
                replace(
                    record,
                    state=RingState.OPEN,
                    opened_at=stamp,
                    opened_by="gate",
                    decision="ring 0 is always open",
                    evaluated_at=stamp,
                )
            )
            continue
        previous = decided[-1]
        measured = health.get(previous.ring, RingHealth())
        state, why = _gate(previous, measured, now, policy)
        record = replace(
            record,
            state=state,
            decision=why,
            evaluated_at=stamp,
            previous_ring=previous.ring,
            previous_counts=_counts(measured),
            failing=measured.failing_names,
        )
        decided.append(replace(record, opened_at=stamp, opened_by="gate") if state == RingState.OPEN else record)
    return decided


def _gate(previous: RingRecord, health: RingHealth, now: datetime, policy: RingPolicy) -> tuple[RingState, str]:
    ring = previous.ring
    if previous.state != RingState.OPEN:
        return RingState.WAITING, f"waiting for ring {ring} to open"
    opened = parse_timestamp(previous.opened_at) or now
    if now - opened < policy.soak:
        return RingState.WAITING, (
            f"ring {ring} opened {iso(opened)}: soaking until {iso(opened + policy.soak)} (RING_SOAK)"
        )
    if health.enabled == 0:
        return RingState.OPEN, f"ring {ring} soaked and had nothing to enable"
    if health.settled < policy.min_sample and health.settled < health.enabled:
        return RingState.WAITING, (
            f"ring {ring}: {health.settled} of {health.enabled} enabled machines settled,"
            f" fewer than RING_MIN_SAMPLE={policy.min_sample}"
        )
    success, failure = health.succeeded / health.settled, health.failing / health.settled
    measured = (
        f"ring {ring}: {health.settled} settled, {success:.0%} upgraded (at least"
        f" {policy.min_success:.0%}), {failure:.0%} failing or stuck (at most {policy.max_failure:.0%})"
    )
    if success >= policy.min_success and failure <= policy.max_failure:
        return RingState.OPEN, f"{measured}: healthy"
    names = f"; failing: {', '.join(health.failing_names)}" if health.failing_names else ""
    return RingState.HELD, f"{measured}: held{names}"


def _counts(h: RingHealth) -> dict[str, int]:
    return {"enabled": h.enabled, "settled": h.settled, "succeeded": h.succeeded, "failing": h.failing}


def opened_by_hand(record: RingRecord, who: str, reason: str, now: datetime) -> RingRecord:
    """An operator's decision, recorded with who and when; the gate never closes it again."""
    stamp = iso(now)
    return replace(
        record,
        state=RingState.OPEN,
        opened_at=stamp,
        opened_by=f"operator {who}",
        decision=f"opened by hand: {reason}",
        evaluated_at=stamp,
    )
