"""What a benchmark measures in real time: service latency, and whether the client honours Retry-After.

Both run on real monotonic time, as throttling.py does, never the simulated clock. The
latency is a sleep in the request's own handler thread, after the simulator's lock is
released, so concurrent requests overlap as they would against ARM; it is 0 by default so
tests stay fast. The Retry-After watch remembers every ``Retry-After`` it answered with,
per caller and scope (a subscription, Resource Graph, or the tenant), and flags each later
request in that scope that arrives before the wait is over.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from local_stack.simulator.wire import Request

WRITE_METHODS = ("PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Latency:
    """Service time per request in seconds, before the answer is sent (throttled answers are not delayed)."""

    read_s: float = 0.0  # GET, and Resource Graph queries (a POST that reads)
    write_s: float = 0.0  # PUT, PATCH, DELETE

    def __post_init__(self) -> None:
        if self.read_s < 0 or self.write_s < 0:
            raise ValueError(f"latency must not be negative: {self}")

    def seconds(self, method: str, status: int) -> float:
        if status == 429:
            return 0.0
        return self.write_s if method.upper() in WRITE_METHODS else self.read_s


def retry_scope(request: Request) -> str:
    """What a Retry-After applies to: Resource Graph, one subscription, or the tenant."""
    lowered = request.lower
    if lowered[:2] == ["providers", "microsoft.resourcegraph"]:
        return "arg"
    if len(lowered) >= 2 and lowered[0] == "subscriptions":
        return lowered[1]
    return "tenant"


class RetryAfterWatch:
    """Deadlines from the Retry-After answers given, by (caller, scope)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic):
        self._monotonic = monotonic
        self._deadlines: dict[tuple[str, str], float] = {}

    def early(self, key: tuple[str, str]) -> bool:
        """Whether a request now, in this scope, comes before a Retry-After given to it has passed."""
        return self._monotonic() < self._deadlines.get(key, -math.inf)

    def note(self, key: tuple[str, str], retry_after: str | None) -> None:
        """Remember an answer's ``Retry-After`` (seconds); other forms are ignored."""
        try:
            seconds = float(retry_after or "")
        except ValueError:
            return
        deadline = self._monotonic() + seconds
        self._deadlines[key] = max(deadline, self._deadlines.get(key, -math.inf))

    def clear(self) -> None:
        self._deadlines.clear()
