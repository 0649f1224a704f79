"""One episode: the history the extension sends, the SDK's answer, and what it means.

An episode is one call of the orchestrator handler: all past events (played) plus a new
OrchestratorStarted and this batch of messages (unplayed). The SDK replays the generator
over all of it and returns its actions; the shim decides which are new and whether the
execution is done. Reference notes, section 8.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import history as h
from . import sdk_seam
from .instances import Instance
from .shim import Issued, ShimFailure, ShimReplay


@dataclass(frozen=True)
class Verdict:
    """How an episode leaves its execution: "Running", "Completed", "Failed" or "ContinuedAsNew"."""

    status: str
    output: Any = None
    error: str | None = None
    new_input: Any = None  # for ContinuedAsNew


def take_batch(inst: Instance, limit: int, rng: random.Random | None) -> list[dict]:
    """Up to ``limit`` messages (Azure Storage dequeues at most 32), optionally shuffled to test
    out-of-order delivery; ExecutionStarted stays first."""
    if rng is not None and len(inst.inbox) > 1:
        head = 1 if inst.inbox[0]["EventType"] == h.EXECUTION_STARTED else 0
        rest = inst.inbox[head:]
        rng.shuffle(rest)
        inst.inbox[head:] = rest
    batch = inst.inbox[:limit]
    del inst.inbox[:limit]
    return batch


def run_episode(inst: Instance, batch: list[dict], now: datetime, handler: Callable) -> tuple[list[Issued], Verdict]:
    """Replay ``inst`` with ``batch`` through ``handler``; returns the actions to dispatch and the verdict.

    Updates the instance's history (new scheduling events included), counters and custom status;
    closing or finishing the execution is left to the caller.
    """
    started = h.orchestrator_started(now)
    history = h.replay_history(inst.history, [started, *batch])
    body = h.context_json(history, inst.input, inst.instance_id, inst.parent_id)
    inst.episodes += 1
    inst.replays += bool(inst.history)
    inst.replayed_events += len(inst.history)
    inst.history = inst.history + [started] + batch
    inst.status, inst.updated = "Running", now
    state, crash = sdk_seam.call_orchestrator(handler, body)
    if crash is not None:
        return [], Verdict("Failed", error=f"Orchestrator function '{inst.name}' failed: {crash}")
    if state.get("customStatus") is not None:  # the shim applies it before replaying actions
        inst.custom_status = state["customStatus"]
    try:
        shim = ShimReplay.for_state(state, inst.execution_id)
        fresh = shim.run(history)
    except ShimFailure as exc:
        return [], Verdict("Failed", error=str(exc))
    inst.history.extend(issued.scheduled_event(now) for issued in fresh)
    if not shim.finished:  # waiting on the first pending task
        return fresh, Verdict("Running")
    if state.get("error"):
        return fresh, Verdict("Failed", error=f"Orchestrator function '{inst.name}' failed: {state['error']}")
    if state.get("isDone") and shim.continued:
        return fresh, Verdict("ContinuedAsNew", new_input=shim.continue_input)
    if state.get("isDone"):
        return fresh, Verdict("Completed", output=state.get("output"))
    return fresh, Verdict("Running")
