"""WriteGate against the simulator's token bucket on a fake clock: ARM's budget, spent without 429s."""

from __future__ import annotations

from dataclasses import replace

import pytest

from arc_sweeper.throttling import MIN_EVIDENCE_S, REMAINING_WRITES, BudgetExhausted, WriteBudget, WriteGate
from local_stack.bench.gate_pacing import Reordering
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


def ten_tokens(time: FakeTime) -> WriteGate:
    """A gate ARM has told of ten tokens, refilling too slowly to matter here."""
    return WriteGate(
        WriteBudget(tokens=10, reported=True, refill_per_s=0.01), max_wait_s=60, clock=time.clock, sleep=time.sleep
    )


def test_a_report_read_late_does_not_bring_back_tokens_that_are_gone():
    """Two PATCHes on ten tokens: ARM counts the first (9 left), then the second (8 left), but a busy worker
    reads the second's answer first. The first's figure, read last, is older: the gate keeps believing 8."""
    time = FakeTime()
    gate = ten_tokens(time)
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


def test_concurrency_doubles_after_as_many_clean_answers_as_it_allows():
    time = FakeTime()
    gate = WriteGate(WriteBudget(tokens=100, reported=True), max_wait_s=5, clock=time.clock, sleep=time.sleep)
    start = gate.concurrency
    for left in range(99, 99 - start, -1):
        gate.after_response(gate.before_send(), 200, {REMAINING_WRITES: str(left)})
    assert gate.concurrency == start * 2


def test_concurrency_never_exceeds_the_gates_maximum_even_from_a_budget_that_had_more():
    """MAX_PARALLEL_WRITES_PER_SUBSCRIPTION is a cap: a budget handed on from a chunk that ran with a higher one
    (the setting was lowered between runs) is held to it, and growth stops there."""
    time = FakeTime()
    budget = WriteBudget(tokens=100, reported=True, concurrency=16)
    gate = WriteGate(budget, max_wait_s=5, max_concurrency=6, clock=time.clock, sleep=time.sleep)
    assert gate.concurrency == 6
    for left in range(99, 50, -1):
        gate.after_response(gate.before_send(), 200, {REMAINING_WRITES: str(left)})
    assert gate.concurrency == 6


def test_a_newer_patchs_report_read_last_does_not_raise_tokens_when_arm_counted_an_older_one_after_it():
    """Two PATCHes on ten tokens: ARM counts the second first (9 left), then the first (8 left); the first's
    answer is read first. The second's figure, read last, is the older one although its PATCH was sent later:
    ten tokens were never nine after both."""
    time = FakeTime()
    gate = ten_tokens(time)
    first, second = gate.before_send(), gate.before_send()
    gate.after_response(first, 200, {REMAINING_WRITES: "8"})
    gate.after_response(second, 200, {REMAINING_WRITES: "9"})
    assert gate.state().tokens == 8


def test_a_burst_of_429s_halves_the_refill_estimate_and_the_concurrency_once():
    time = FakeTime()
    gate = WriteGate(
        WriteBudget(tokens=6, reported=True, refill_per_s=0.8, concurrency=8),
        max_wait_s=60,
        clock=time.clock,
        sleep=time.sleep,
    )
    tickets = [gate.before_send() for _ in range(4)]
    for ticket in tickets:
        gate.after_response(ticket, 429, {"Retry-After": "3"})
    state = gate.state()
    assert (state.refill_per_s, state.concurrency, state.throttled) == (0.4, 4, 4)


def test_room_hands_over_no_more_patches_than_arm_holds_tokens_for():
    """The sender starts only as many PATCHes as could go now (at least one, to wait for the refill): the rest
    would each hold a thread waiting here."""
    time = FakeTime()
    gate = WriteGate(
        WriteBudget(tokens=3, reported=True, refill_per_s=0.01, concurrency=32),
        max_wait_s=60,
        clock=time.clock,
        sleep=time.sleep,
    )
    assert gate.room() == 3
    for left in (2, 1, 0):
        gate.after_response(gate.before_send(), 200, {REMAINING_WRITES: str(left)})
    assert gate.room() == 1


def test_an_exact_figure_keeps_the_proven_fraction_so_the_next_patch_goes_a_refill_period_after_the_last():
    """ARM reports whole tokens. Once the refill is measured, the gate keeps what it can prove beyond the figure,
    so the next PATCH goes one refill period after the last was sent, not one after its answer came back."""
    time = FakeTime()
    budget = WriteBudget(
        tokens=0.0, capacity=10, refill_per_s=1.0, measured_refill_per_s=1.0, reported=True, lower_bound=True
    )
    gate = WriteGate(replace(budget, as_of=time.now), max_wait_s=60, clock=time.clock, sleep=time.sleep)
    first = gate.before_send()
    sent_first = time.now
    time.now += 0.3  # the answer comes back 0.3 s later, and ARM says 0 left
    gate.after_response(first, 200, {REMAINING_WRITES: "0"})
    assert gate.state().tokens == pytest.approx(0.3, abs=0.02)
    gate.before_send()
    assert time.now - sent_first == pytest.approx(1.0, abs=0.02)


def test_a_figure_below_what_the_gate_proved_is_believed():
    """Another caller of the same principal spent tokens: the proof was wrong, ARM's figure is right."""
    time = FakeTime()
    budget = WriteBudget(
        tokens=3.0, capacity=10, refill_per_s=1.0, measured_refill_per_s=1.0, reported=True, lower_bound=True
    )
    gate = WriteGate(replace(budget, as_of=time.now), max_wait_s=60, clock=time.clock, sleep=time.sleep)
    ticket = gate.before_send()
    gate.after_response(ticket, 200, {REMAINING_WRITES: "0"})
    assert gate.state().tokens == 0.0


def test_until_the_refill_is_measured_the_last_token_is_spent_a_little_later_not_at_once():
    """Its answer then shows what ARM refilled meanwhile, instead of a wait on the first (low) guess of the
    refill while ARM's bucket fills up and overflows."""
    time = FakeTime()
    gate = WriteGate(
        WriteBudget(tokens=1.0, capacity=10, reported=True, lower_bound=True, as_of=time.now),
        max_wait_s=60,
        clock=time.clock,
        sleep=time.sleep,
    )
    gate.before_send()
    assert time.now - 1_000.0 == pytest.approx(MIN_EVIDENCE_S, abs=0.02)


@pytest.mark.parametrize("seed", range(5))
def test_a_small_bucket_refilling_faster_than_the_first_guess_is_followed_within_a_refill_period(seed):
    """10 + 1/s: the gate used to spend the last token of the burst at once and then wait 10 s on its first
    guess of the refill, while ARM's bucket filled up in less and overflowed (1.4 to 2.9 periods behind)."""
    arm = Reordering(10, 1.0, seed)
    took = arm.run(75)
    assert (arm.throttled, arm.early) == (0, 0)
    assert took - (75 - 10) / 1.0 < 1.25


@pytest.mark.parametrize("capacity, refill, writes", [(10, 1.0, 75), (2, 0.1, 40), (200, 10.0, 400)])
@pytest.mark.parametrize("seed", range(5))
def test_answers_overtaking_each_other_cost_no_429_and_little_time(capacity, refill, writes, seed):
    """Reordered answers made the gate believe tokens ARM no longer had (a 429 on one PATCH in six, and a refill
    estimate halved into the ground); now it stays near the floor without one."""
    arm = Reordering(capacity, refill, seed)
    took = arm.run(writes)
    floor = (writes - capacity) / refill
    assert (arm.throttled, arm.early) == (0, 0)
    assert took < 1.3 * floor
