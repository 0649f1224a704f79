"""The staged rollout's gate: pure decisions from recorded facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from arc_sweeper.records import FleetRecord, RingRecord
from arc_sweeper.rings import RingHealth, RingPolicy, decide, health_by_ring, opened_by_hand
from arc_sweeper.timefmt import iso
from arc_sweeper.vocabulary import Outcome, RingState

T0 = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
POLICY = RingPolicy("Ring", {"aaaaaaaa-0000-4000-8000-000000000001": 2}, timedelta(days=3), 0.9, 0.05, 5)


def ring0_open_since(days: float) -> dict[int, RingRecord]:
    return {0: RingRecord(0, RingState.OPEN, opened_at=iso(T0 - timedelta(days=days)), opened_by="gate")}


def test_ring_of_a_machine_from_its_tag_then_its_subscription_else_none():
    assert POLICY.ring_of({" RING ": " 1 "}, "x") == 1
    assert POLICY.ring_of({"ring": "one"}, "AAAAAAAA-0000-4000-8000-000000000001") == 2
    assert POLICY.ring_of({"owner": "ops"}, "bbbbbbbb-0000-4000-8000-000000000002") is None


def test_ring_zero_is_always_open_and_the_next_waits_for_its_soak():
    rings = decide([1], {}, {}, T0, POLICY)
    assert [(r.ring, r.state) for r in rings] == [(0, RingState.OPEN), (1, RingState.WAITING)]
    assert "soaking until" in rings[1].decision


@pytest.mark.parametrize(
    "health, state, words",
    [
        (RingHealth(20, 19, 1), RingState.OPEN, "healthy"),
        (RingHealth(20, 15, 5, ("web-01", "db-02")), RingState.HELD, "failing: web-01, db-02"),
        (RingHealth(20, 2, 0), RingState.WAITING, "2 of 20 enabled machines settled"),
        (RingHealth(3, 3, 0), RingState.OPEN, "healthy"),  # a small ring: judged once all settled
        (RingHealth(0, 0, 0), RingState.OPEN, "nothing to enable"),
    ],
)
def test_the_gate_after_the_soak(health, state, words):
    [_, ring1] = decide([1], ring0_open_since(4), {0: health}, T0, POLICY)
    assert ring1.state == state and words in ring1.decision
    assert ring1.previous_counts["enabled"] == health.enabled and ring1.failing == health.failing_names


def test_a_held_ring_shows_the_measured_shares_against_the_thresholds():
    [_, ring1] = decide([1], ring0_open_since(4), {0: RingHealth(20, 15, 5)}, T0, POLICY)
    assert "75% upgraded (at least 90%)" in ring1.decision and "25% failing or stuck (at most 5%)" in ring1.decision


def test_rings_open_in_order_and_an_open_ring_stays_open():
    before = {**ring0_open_since(10), 1: RingRecord(1, RingState.OPEN, opened_at=iso(T0 - timedelta(days=1)))}
    rings = decide([1, 2], before, {0: RingHealth(20, 1, 19), 1: RingHealth(10, 10, 0)}, T0, POLICY)
    assert [r.state for r in rings] == [RingState.OPEN, RingState.OPEN, RingState.WAITING]  # ring 1 soaks a day


def test_the_same_facts_give_the_same_decision():
    args = ([1, 2], ring0_open_since(4), {0: RingHealth(20, 19, 1)}, T0, POLICY)
    assert decide(*args) == decide(*args)


def test_an_operator_opens_a_held_ring_and_the_gate_keeps_it_open():
    held = RingRecord(1, RingState.HELD, decision="held")
    opened = opened_by_hand(held, "ops@contoso.com", "failures are a known proxy issue", T0)
    assert (opened.state, opened.opened_by, opened.opened_at) == (RingState.OPEN, "operator ops@contoso.com", iso(T0))
    [_, ring1] = decide([1], {**ring0_open_since(4), 1: opened}, {0: RingHealth(20, 0, 20)}, T0, POLICY)
    assert ring1.state == RingState.OPEN and "failures are a known proxy issue" in ring1.decision


def test_health_counts_enabled_machines_by_outcome():
    def row(name, ring, outcome, enabled=True):
        return FleetRecord(f"/m/{name}", "s", name, ring=ring, enabled_at="t" if enabled else "", last_outcome=outcome)

    health = health_by_ring(
        [
            row("a", 0, Outcome.UPGRADED),
            row("b", 0, Outcome.UP_TO_DATE),
            row("c", 0, Outcome.STUCK),
            row("d", 0, Outcome.PENDING),
            row("e", 0, None, enabled=False),
            row("f", 1, Outcome.GONE),
        ]
    )
    assert health[0] == RingHealth(enabled=4, succeeded=2, failing=1, failing_names=("c",))
    assert replace(health[1], failing_names=()) == RingHealth(enabled=1)
