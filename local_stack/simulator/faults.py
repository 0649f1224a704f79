"""Seeded 5xx injection per operation kind, so retry paths can be exercised repeatably."""
from __future__ import annotations

import random
from dataclasses import dataclass, fields
from typing import Optional

KINDS = ("arg", "subscriptions", "machine_get", "patch")


@dataclass
class FaultSettings:
    """Probability (0..1) that a request of each kind fails with 500 or 503."""

    arg: float = 0.0
    subscriptions: float = 0.0
    machine_get: float = 0.0   # machine and extension GETs, machine lists
    patch: float = 0.0

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
    retry_after: Optional[int]


class FaultInjector:
    def __init__(self, settings: Optional[FaultSettings] = None, seed: int = 0):
        self.settings = settings or FaultSettings()
        self._rng = random.Random(seed)

    def draw(self, kind: str) -> Optional[Fault]:
        """A fault for this request, or None. Faults happen before any state changes."""
        rate = getattr(self.settings, kind)
        if rate <= 0 or self._rng.random() >= rate:
            return None
        roll = self._rng.random()
        if roll < 0.5:
            return Fault(500, "InternalServerError",
                         "Encountered internal server error. Please try again later.", None)
        if roll < 0.8:
            return Fault(503, "ServiceUnavailable",
                         "The service is temporarily unavailable. Please retry the request after some time.", 1)
        return Fault(503, "ServiceUnavailable", "The server is currently unable to handle the request.", None)
