"""Scripted answers: a test says exactly which requests misbehave, and how.

The seeded faults (faults.py) strike at random; a fault campaign needs the opposite: this
request, and no other, answered badly. ``sim.script(Script(when=..., ...))`` does that:

- ``refuse``: an ARM error in place of the operation (nothing changes), e.g. a 429 with
  ``Retry-After: 86400``;
- ``transform``: the operation runs, then its answer is rewritten, e.g. a Resource Graph
  page that always carries a fresh ``$skipToken``;
- ``raw_body``: the operation runs, then these bytes go out as the body (malformed JSON);
- ``trickle_s``: the operation runs, then its answer goes out one byte at a time, this many
  seconds apart, until the client hangs up (``cut_off`` counts those);
- ``before``: called outside the simulator's lock before the request is handled; it may block
  (a pause the test releases) or act on the world (stop a storage emulator).

A script applies to ``times`` requests it matches (all of them when None), after letting
the first ``after`` through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from local_stack.simulator.wire import ArmError, Request, Response


@dataclass
class Script:
    when: Callable[[Request], bool]
    times: int | None = None
    after: int = 0  # let this many matching requests through first
    refuse: ArmError | None = None
    transform: Callable[[Request, Response], Response] | None = None
    raw_body: bytes | None = None
    trickle_s: float = 0.0
    before: Callable[[Request], None] | None = None
    hits: int = 0
    seen: int = 0
    cut_off: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, request: Request) -> bool:
        """Whether this script answers the request (and count it)."""
        with self._lock:
            if (self.times is not None and self.hits >= self.times) or not self.when(request):
                return False
            self.seen += 1
            if self.seen <= self.after:
                return False
            self.hits += 1
            return True


def requests_to(method: str, *path_parts: str, body_has: str = "") -> Callable[[Request], bool]:
    """A matcher: this method, a path containing every part (case-insensitive), a body containing `body_has`."""
    parts = [p.lower() for p in path_parts]

    def match(request: Request) -> bool:
        path = request.path.lower()
        return request.method == method.upper() and all(p in path for p in parts) and body_has.encode() in request.body

    return match


def resource_graph(*, subscription: str = "") -> Callable[[Request], bool]:
    """A matcher for Resource Graph queries (over `subscription`, when given)."""
    return requests_to("POST", "/providers/microsoft.resourcegraph/resources", body_has=subscription)


def patches(subscription: str = "") -> Callable[[Request], bool]:
    """A matcher for machine PATCHes (in `subscription`, when given)."""
    return requests_to("PATCH", f"/subscriptions/{subscription}", "/microsoft.hybridcompute/machines/")


def subscription_reads(subscription: str = "") -> Callable[[Request], bool]:
    """A matcher for the subscription list (or one subscription's GET), nothing below them."""
    wanted = f"/subscriptions/{subscription}".rstrip("/").lower()
    return lambda request: request.method == "GET" and request.path.rstrip("/").lower() == wanted
