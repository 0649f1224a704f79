"""ARM token buckets and the Resource Graph per-user quota window (reference §8.4, §9).

Both run on real monotonic time, never the simulated clock: a virtual clock that jumps
three days must not refill a bucket, and throttling is about how fast the product
really sends requests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ThrottleSettings:
    """Limits per caller token: ARG per window; ARM buckets per subscription as well.

    ``write_burst``/``read_burst`` are the buckets' capacities; the ``*_floor_seconds``
    methods turn the limits into the least time a workload needs without a 429.
    """

    arg_quota: int = 15
    arg_window_seconds: float = 5.0
    write_burst: int = 200
    write_refill_per_second: float = 10.0
    read_burst: int = 250
    read_refill_per_second: float = 25.0

    def bucket(self, kind: str) -> tuple[int, float]:
        """(capacity, refill per second) of the ARM bucket for ``kind`` "read" or "write"."""
        if kind == "write":
            return self.write_burst, self.write_refill_per_second
        return self.read_burst, self.read_refill_per_second

    def arm_floor_seconds(self, requests: int, kind: str = "write") -> float:
        """Least time one caller needs for ``requests`` ARM calls of ``kind`` to one subscription
        without a 429: the burst goes at once, the rest at the refill rate."""
        capacity, refill = self.bucket(kind)
        return max(0, requests - capacity) / refill

    def arg_floor_seconds(self, queries: int) -> float:
        """Least time one caller needs for ``queries`` Resource Graph queries (pages) without a
        429: a window starts with its first query, so the last one opens window ceil(n/quota)."""
        return max(0, math.ceil(queries / self.arg_quota) - 1) * self.arg_window_seconds

    def scaled(self, scale: float) -> ThrottleSettings:
        """Smaller (scale < 1) limits for tests; the ARG window length is kept."""
        return replace(
            self,
            arg_quota=max(1, round(self.arg_quota * scale)),
            write_burst=max(1, round(self.write_burst * scale)),
            write_refill_per_second=self.write_refill_per_second * scale,
            read_burst=max(1, round(self.read_burst * scale)),
            read_refill_per_second=self.read_refill_per_second * scale,
        )


class TokenBucket:
    """ARM's regional bucket: ``capacity`` requests at once, refilled continuously."""

    def __init__(self, capacity: int, refill_per_second: float, monotonic: Callable[[], float] = time.monotonic):
        self.capacity = capacity
        self.refill = refill_per_second
        self._monotonic = monotonic
        self._tokens = float(capacity)
        self._stamp = monotonic()

    def _top_up(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.refill)
        self._stamp = now

    def take(self) -> tuple[bool, int, int]:
        """(allowed, tokens remaining, Retry-After seconds when refused)."""
        self._top_up()
        if self._tokens >= 1:
            self._tokens -= 1
            return True, int(self._tokens), 0
        wait = (1 - self._tokens) / self.refill if self.refill > 0 else 3600
        return False, 0, max(1, math.ceil(wait))


class QuotaWindow:
    """ARG's ``quota`` queries per ``window`` seconds, starting with the first query."""

    def __init__(self, quota: int, window: float, monotonic: Callable[[], float] = time.monotonic):
        self.quota = quota
        self.window = window
        self._monotonic = monotonic
        self._start = -math.inf
        self._used = 0

    def take(self) -> tuple[bool, int, float]:
        """(allowed, remaining after this query, seconds until the window resets)."""
        now = self._monotonic()
        if now - self._start >= self.window:
            self._start, self._used = now, 0
        resets = max(0.0, self._start + self.window - now)
        if self._used >= self.quota:
            return False, 0, resets
        self._used += 1
        return True, self.quota - self._used, resets


def format_resets_after(seconds: float) -> str:
    """``hh:mm:ss`` as in ``x-ms-user-quota-resets-after`` (rounded up)."""
    total = math.ceil(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


class Throttles:
    """All buckets and windows, keyed by caller (and subscription for ARM)."""

    def __init__(self, settings: ThrottleSettings = ThrottleSettings()):
        self.settings = settings
        self._windows: dict[str, QuotaWindow] = {}
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}

    def reconfigure(self, settings: ThrottleSettings) -> None:
        """New limits start with full buckets and fresh windows."""
        self.settings = settings
        self._windows.clear()
        self._buckets.clear()

    def arg(self, caller: str) -> tuple[bool, int, float]:
        window = self._windows.get(caller)
        if window is None:
            window = self._windows[caller] = QuotaWindow(self.settings.arg_quota, self.settings.arg_window_seconds)
        return window.take()

    def arm(self, caller: str, scope: str, kind: str) -> tuple[bool, int, int]:
        """``kind`` is "read" or "write"; ``scope`` a subscription id or "tenant"."""
        key = (caller, scope.lower(), kind)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(*self.settings.bucket(kind))
        return bucket.take()
