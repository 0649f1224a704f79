"""WriteGate against the simulator's token bucket on a fake clock: ARM's budget, spent without 429s."""

from __future__ import annotations

import pytest

from arc_sweeper.throttling import REMAINING_WRITES, BudgetExhausted, WriteBudget, WriteGate
from local_stack.simulator.throttling import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def send(gate: WriteGate, bucket: TokenBucket, writes: int) -> int:
    """One PATCH at a time through the gate into the bucket; the 429s drawn."""
    throttled = 0
    for _ in range(writes):
        while True:
            ticket = gate.before_send()
            allowed, remaining, retry_after = bucket.take()
            if allowed:
                gate.after_response(ticket, 200, {REMAINING_WRITES: str(remaining)})
                break
            throttled += 1
            gate.after_response(ticket, 429, {"Retry-After": str(retry_after)})
    return throttled


def test_a_bucket_smaller_and_slower_than_documented_is_learned_from_the_header_without_a_429():
    time = FakeTime()
    bucket = TokenBucket(10, 1.0, monotonic=time.clock)
    gate = WriteGate(WriteBudget(), max_wait_s=120, clock=time.clock, sleep=time.sleep)
    assert send(gate, bucket, 200) == 0
    floor = (200 - 10) / 1.0
    assert time.now - 1_000.0 < 1.15 * floor
    assert 0.8 < gate.state().refill_per_s <= 1.0
    assert gate.state().capacity == 10


def test_a_refill_slower_than_the_first_guess_costs_a_few_429s_then_none():
    time = FakeTime()
    bucket = TokenBucket(5, 0.02, monotonic=time.clock)
    gate = WriteGate(WriteBudget(), max_wait_s=600, clock=time.clock, sleep=time.sleep)
    assert send(gate, bucket, 10) <= 3
    assert send(gate, bucket, 20) == 0


def test_a_429_pauses_the_subscription_for_its_retry_after():
    time = FakeTime()
    gate = WriteGate(WriteBudget(tokens=5, reported=True), max_wait_s=120, clock=time.clock, sleep=time.sleep)
    ticket = gate.before_send()
    gate.after_response(ticket, 429, {"Retry-After": "7"})
    gate.before_send()
    assert time.now - 1_000.0 >= 7
    assert gate.state().throttled == 1


def test_tokens_in_flight_are_spoken_for_with_one_to_spare():
    """Three tokens reported: two PATCHes may go at once (the second with one to spare); a third waits."""
    time = FakeTime()
    gate = WriteGate(
        WriteBudget(tokens=3, reported=True, refill_per_s=0.01), max_wait_s=0.5, clock=time.clock, sleep=time.sleep
    )
    gate.before_send()
    gate.before_send()
    try:
        gate.before_send()
    except Exception as error:  # noqa: BLE001 - BudgetExhausted: nothing to spare within the wait allowed
        assert "budget" in str(error)
    else:
        raise AssertionError("a third PATCH went out on three tokens")


def test_a_wait_for_the_budget_ends_with_the_calls_time_budget():
    """No token for a minute, the call's time budget ends in five seconds: the wait stops there, nothing sent."""
    time = FakeTime()
    stop_at = time.now + 5
    gate = WriteGate(
        WriteBudget(tokens=0, reported=True, refill_per_s=1 / 60),
        max_wait_s=600,
        clock=time.clock,
        sleep=time.sleep,
        out_of_time=lambda: time.now >= stop_at,
    )
    with pytest.raises(BudgetExhausted, match="time budget"):
        gate.before_send()
    assert 5 <= time.now - 1_000.0 < 6


def test_a_report_read_late_does_not_bring_back_tokens_that_are_gone():
    """Two PATCHes on ten tokens: ARM counts the first (9 left), then the second (8 left), but a busy worker
    reads the second's answer first. The first's figure, read last, is older: the gate keeps believing 8."""
    time = FakeTime()
    gate = WriteGate(
        WriteBudget(tokens=10, reported=True, refill_per_s=0.01), max_wait_s=60, clock=time.clock, sleep=time.sleep
    )
    first, second = gate.before_send(), gate.before_send()
    gate.after_response(second, 200, {REMAINING_WRITES: "8"})
    gate.after_response(first, 200, {REMAINING_WRITES: "9"})
    assert gate.state().tokens == 8


def test_a_request_that_got_no_answer_gives_back_its_place_in_flight_and_counts_its_token_spent():
    """A connection that fails must not leave the gate believing a PATCH is still in flight: with none in
    flight, the next PATCH may go on the refill alone; and ARM may have taken the token."""
    time = FakeTime()
    gate = WriteGate(
        WriteBudget(tokens=1, reported=True, refill_per_s=1.0), max_wait_s=5, clock=time.clock, sleep=time.sleep
    )
    gate.after_error(gate.before_send())
    assert gate.state().tokens == 0
    gate.before_send()  # alone in flight, on the refill: a second later
    assert 0.9 <= time.now - 1_000.0 < 1.5


def test_until_arm_reports_the_bucket_one_patch_at_a_time():
    """The documented 200 is only a guess: a second PATCH waits for the first one's answer, then goes on what
    ARM reported (here 3 left: two at once, with one to spare)."""
    time = FakeTime()
    gate = WriteGate(WriteBudget(), max_wait_s=0.5, clock=time.clock, sleep=time.sleep)
    first = gate.before_send()
    with pytest.raises(BudgetExhausted):
        gate.before_send()
    gate.after_response(first, 200, {REMAINING_WRITES: "3"})
    gate.before_send()
    gate.before_send()


def test_concurrency_grows_after_as_many_clean_answers_as_it_allows():
    time = FakeTime()
    gate = WriteGate(WriteBudget(tokens=100, reported=True), max_wait_s=5, clock=time.clock, sleep=time.sleep)
    start = gate.concurrency
    for left in range(99, 99 - start, -1):
        gate.after_response(gate.before_send(), 200, {REMAINING_WRITES: str(left)})
    assert gate.concurrency == start + 1
