"""Seeded fault injection, so retry and data-loss paths can be exercised repeatably.

Two sorts: 5xx answers per operation kind (``KINDS``), and answers that are well formed
but lose data (``arg_truncated``: a Resource Graph page marked ``resultTruncated`` with
no ``$skipToken``, which Azure documents for queries it cannot page).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields

KINDS = ("arg", "subscriptions", "machine_get", "patch")


@dataclass
class FaultSettings:
    """Probabilities (0..1): of a 500/503 for each kind in ``KINDS``, and of the data-loss faults."""

    arg: float = 0.0
    subscriptions: float = 0.0
    machine_get: float = 0.0  # machine and extension GETs, machine lists
    patch: float = 0.0
    arg_truncated: float = 0.0  # a page with more rows to come says resultTruncated "true", no $skipToken

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {f.name}={value} is not within 0..1")


@dataclass(frozen=True)
class Fault:
    status: int
    code: str
    message: str
    retry_after: int | None


class FaultInjector:
    def __init__(self, settings: FaultSettings | None = None, seed: int = 0):
        self.settings = settings or FaultSettings()
        self._rng = random.Random(seed)

    def chance(self, name: str) -> bool:
        """Whether the fault ``name`` (a FaultSettings field) strikes this time."""
        rate = getattr(self.settings, name)
        return rate > 0 and self._rng.random() < rate

    def draw(self, kind: str) -> Fault | None:
        """A fault for this request, or None. Faults happen before any state changes."""
        if not self.chance(kind):
            return None
        roll = self._rng.random()
        if roll < 0.5:
            return Fault(500, "InternalServerError", "Encountered internal server error. Please try again later.", None)
        if roll < 0.8:
            return Fault(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please retry the request after some time.",
                1,
            )
        return Fault(503, "ServiceUnavailable", "The server is currently unable to handle the request.", None)
