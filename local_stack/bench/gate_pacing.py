"""The write gate alone against ARM's bucket on a fake clock, with a network that reorders answers.

`python -m local_stack.bench.gate_pacing` prints, per bucket, how far behind ARM's refill the gate
finishes (in refill periods, over 20 seeds), on the tests' slow network (0 to 0.3 s to ARM, 0.1 to
0.4 s back) and on one five times faster (about the bench's loopback with its 0.1 s service time).
Run it at two commits to compare pacing side by side; tests/unit/test_write_gate.py uses the same
network.
"""

from __future__ import annotations

import heapq
import random
import statistics

from arc_sweeper.throttling import REMAINING_WRITES, WriteBudget, WriteGate
from local_stack.simulator.throttling import TokenBucket

BUCKETS = ((10, 1.0, 75), (10, 0.1, 76), (2, 0.1, 40), (200, 10.0, 400))
"""(capacity, refill per second, writes): the 10,000- and 100,000-machine estates' busiest subscriptions, the
reduced estate's, and Azure's documented bucket."""


class Waiting(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class Reordering:
    """PATCHes through a gate into ARM's bucket on a fake clock, with the network reordering them: each takes
    a random time to reach ARM and another to come back, and as many go as `room()` allows, as the sender does.
    `delay_scale` shrinks (or stretches) both trips."""

    def __init__(self, capacity: int, refill: float, seed: int, delay_scale: float = 1.0) -> None:
        self.random, self.now, self.delay_scale = random.Random(seed), 1_000.0, delay_scale
        self.bucket = TokenBucket(capacity, refill, monotonic=lambda: self.now)

        def must_wait(seconds: float) -> None:
            raise Waiting(seconds)

        self.gate = WriteGate(
            WriteBudget(), max_wait_s=1e6, max_concurrency=32, clock=lambda: self.now, sleep=must_wait
        )
        self.throttled = self.early = 0
        self.last_sent_at = 0.0

    def _trip(self, least: float, spread: float) -> float:
        return (least + self.random.uniform(0, spread)) * self.delay_scale

    def run(self, writes: int) -> float:
        """Seconds from the start until ARM counted the last PATCH."""
        events: list[tuple[float, int, str, tuple]] = []
        order, todo, on_the_way, paused_until = 0, writes, 0, 0.0

        def at(when: float, kind: str, data: tuple = ()) -> None:
            nonlocal order
            order += 1
            heapq.heappush(events, (when, order, kind, data))

        def start_more() -> None:
            nonlocal todo, on_the_way
            while on_the_way < self.gate.room() and todo:
                todo, on_the_way = todo - 1, on_the_way + 1
                at(self.now, "try")

        started = self.now
        start_more()
        while events:
            self.now, _, kind, data = heapq.heappop(events)
            if kind == "try":
                try:
                    ticket = self.gate.before_send()
                except Waiting as wait:
                    at(self.now + wait.seconds, "try")
                    continue
                at(self.now + self._trip(0.0, 0.3), "arm", (ticket,))
            elif kind == "arm":
                self.early += self.now < paused_until
                allowed, left, retry_after = self.bucket.take()
                self.last_sent_at = self.now
                if not allowed:
                    paused_until = max(paused_until, self.now + retry_after)
                at(self.now + self._trip(0.1, 0.3), "answer", (*data, allowed, left, retry_after))
            else:
                ticket, allowed, left, retry_after = data
                if allowed:
                    self.gate.after_response(ticket, 200, {REMAINING_WRITES: str(left)})
                    on_the_way -= 1
                    start_more()
                else:
                    self.throttled += 1
                    self.gate.after_response(ticket, 429, {"Retry-After": str(retry_after)})
                    at(self.now, "try")
        return self.last_sent_at - started


def main(seeds: int = 20) -> None:
    for delay_scale, network in ((1.0, "slow network"), (0.2, "fast network")):
        for capacity, refill, writes in BUCKETS:
            behind, refused = [], 0
            for seed in range(seeds):
                arm = Reordering(capacity, refill, seed, delay_scale)
                behind.append((arm.run(writes) - (writes - capacity) / refill) * refill)
                refused += arm.throttled + arm.early
            print(
                f"{network}, {capacity} + {refill:g}/s, {writes} writes: behind ARM's refill by "
                f"{statistics.median(behind):.2f} periods (median of {seeds} seeds; {min(behind):.2f} to "
                f"{max(behind):.2f}); 429s and early requests {refused}"
            )


if __name__ == "__main__":
    main()
