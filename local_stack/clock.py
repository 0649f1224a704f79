"""Clocks shared by the local Durable host and the fleet simulator.

The host's durable timers and the simulated agents must read the same time, so that
"wait 12 hours" in an orchestration also means "12 hours passed" for the agents.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""


class RealClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """Time that runs at wall speed but can jump forward.

    The local host calls :meth:`advance_to` when nothing is runnable and the next
    durable timer is in the future; the jump is permanent (time never goes back).
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start time")
        self._lock = threading.Lock()
        self._offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance_to(self, moment: datetime) -> None:
        with self._lock:
            gap = moment - (datetime.now(UTC) + self._offset)
            if gap > timedelta(0):
                self._offset += gap
