"""Live progress of a run on the local Durable host, as an operator would want to read it."""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from arc_sweeper.vocabulary import Outcome
from local_stack.clock import Clock


class ProgressPrinter:
    """Prints a line when a run changes phase or a follow-up poll finishes.

    Called by the local Durable host after each episode with the instance id and its
    custom status.
    """

    def __init__(self, clock: Clock, out: TextIO = sys.stderr) -> None:
        self._clock = clock
        self._out = out
        self._lock = threading.Lock()
        self._last: dict[str, Any] = {}

    def __call__(self, instance_id: str, status: Any) -> None:
        if not isinstance(status, dict) or self._last.get(instance_id) == status:
            return
        with self._lock:
            self._last[instance_id] = status
            now = self._clock.now()
            stamp = now.strftime("%a %d %b %H:%M")
            if "poll" in status:
                outcomes = status.get("outcomes", {})
                shown = ", ".join(f"{k} {outcomes[k]}" for k in Outcome if outcomes.get(k))
                self._print(f"[{stamp}] {status['runId']} follow-up poll {status['poll']}: {shown or 'nothing yet'}")
            elif ":" not in instance_id and "phase" in status:
                details = {k: v for k, v in status.items() if k not in ("runId", "phase")}
                extra = ", ".join(f"{k} {v}" for k, v in details.items() if not isinstance(v, dict))
                self._print(f"[{stamp}] {status['runId']}: {status['phase']}" + (f" ({extra})" if extra else ""))

    def _print(self, line: str) -> None:
        print(line, file=self._out, flush=True)
