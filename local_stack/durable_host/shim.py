"""What the extension does with one episode's action list (OutOfProcOrchestrationShim + DTFx).

The SDK never checks its actions against history; the host does. This module re-enacts that
host side: it walks the SDK's actions in order, hands out DTFx sequence ids, matches them
against the scheduling events already in history (non-determinism checks), and reports the
actions that are new this episode. Reference notes, sections 7 and 8.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import history as h

MAX_TIMER = timedelta(days=6)  # Azure Storage provider MaximumDelayTime

_SCHEDULED_KIND = {h.TASK_SCHEDULED: "activity", h.SUB_CREATED: "sub-orchestration", h.TIMER_CREATED: "timer"}
_COMPLETION = {  # event type -> (kind, id field, failed)
    h.TASK_COMPLETED: ("activity", "TaskScheduledId", False),
    h.TASK_FAILED: ("activity", "TaskScheduledId", True),
    h.SUB_COMPLETED: ("sub-orchestration", "TaskScheduledId", False),
    h.SUB_FAILED: ("sub-orchestration", "TaskScheduledId", True),
    h.TIMER_FIRED: ("timer", "TimerId", False),
}
_DESCRIBE = {"activity": "an activity task", "sub-orchestration": "a sub-orchestration", "timer": "a durable timer"}


class ShimFailure(Exception):
    """An exception the extension would throw out of the shim; it fails the instance."""


class _Fut:
    """A DTFx-side awaitable. Faulted tasks count as done: the shim swallows their exceptions."""

    __slots__ = ("done", "failed", "_callbacks")

    def __init__(self, done: bool = False):
        self.done, self.failed, self._callbacks = done, False, []

    def then(self, callback: Callable[[_Fut], None]) -> None:
        if self.done:
            callback(self)
        else:
            self._callbacks.append(callback)

    def resolve(self, failed: bool = False) -> None:
        if self.done:
            return
        self.done, self.failed = True, failed
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)


@dataclass
class Issued:
    """One DTFx scheduling action (activity, timer, sub-orchestration) with its sequence id."""

    id: int
    kind: str
    name: str | None
    fut: _Fut
    input: Any = None
    fire_at: datetime | None = None
    child_id: str | None = None
    in_history: bool = False

    def scheduled_event(self, at: datetime) -> dict:
        """The history event DTFx appends when it schedules this action."""
        if self.kind == "activity":
            return h.task_scheduled(at, self.id, self.name, self.input)
        if self.kind == "timer":
            return h.timer_created(at, self.id, self.fire_at)
        return h.sub_created(at, self.id, self.name, self.child_id, self.input)


class ShimReplay:
    """Re-enacts one episode on the host side.

    The shim awaits the SDK's actions in order while DTFx feeds it the history: scheduling events
    must match the action issued under the same sequence id (type + name, never input), completion
    events resolve awaited tasks, and the walk stops at the first action still pending. Ids are
    handed out in the order DTFx would (so retry timers interleave exactly as the SDK expects).
    """

    def __init__(self, actions: list, execution_id: str):
        self.actions, self.execution_id = actions, execution_id
        self.position, self.finished = 0, False
        self.next_id = 0
        self.issued: dict[int, Issued] = {}
        self.waiters: dict[str, list[_Fut]] = defaultdict(list)  # extension keeps a stack per name
        self.buffered: dict[str, deque] = defaultdict(deque)  # and a FIFO of unclaimed events
        self.now: datetime | None = None  # DTFx CurrentUtcDateTime
        self.continue_input: Any = None
        self.continued = False

    @classmethod
    def for_state(cls, state: dict, execution_id: str) -> ShimReplay:
        """The shim for the SDK's returned state; only schema V2/V3 (one flat action list) is modelled."""
        actions = state.get("actions") or []
        if state.get("schemaVersion", 0) < 1 or len(actions) != 1:
            raise ShimFailure(
                f"LocalDurableHost expects replay schema V2/V3 with one action list, got "
                f"schemaVersion={state.get('schemaVersion')} and {len(actions)} lists"
            )
        return cls(actions[0], execution_id)

    def run(self, history: list[dict]) -> list[Issued]:
        """Feed the history; return the actions issued now that have no scheduling event yet."""
        for event in history:
            self._feed(event)
        return [self.issued[i] for i in sorted(self.issued) if not self.issued[i].in_history]

    def _feed(self, event: dict) -> None:
        kind = event["EventType"]
        if kind == h.ORCHESTRATOR_STARTED:
            self.now = h.parse_ts(event["Timestamp"])
        elif kind == h.EXECUTION_STARTED:
            self._advance()
        elif kind in _SCHEDULED_KIND:
            self._match(event, _SCHEDULED_KIND[kind])
        elif kind in _COMPLETION:
            expected, id_field, failed = _COMPLETION[kind]
            issued = self.issued.get(event.get(id_field))
            if issued is not None and issued.kind == expected and issued.in_history:
                issued.fut.resolve(failed)
        elif kind == h.EVENT_RAISED:
            name = (event.get("Name") or "").lower()  # the extension matches names case-insensitively
            if self.waiters[name]:
                self.waiters[name].pop().resolve()
            else:
                self.buffered[name].append(event)

    def _match(self, event: dict, kind: str) -> None:
        """DTFx's NonDeterministicOrchestrationException checks."""
        seq, name = event["EventId"], event.get("Name")
        named = f" named '{name}'" if kind != "timer" else ""
        issued = self.issued.get(seq)
        if issued is None:
            raise ShimFailure(
                f"Non-Deterministic workflow detected: A previous execution of this orchestration "
                f"scheduled {_DESCRIBE[kind]}{named} with sequence ID {seq}, but the current replay "
                f"execution hasn't (yet?) scheduled this task. Was a change made to the orchestrator "
                f"code after this instance had already started running?"
            )
        if issued.kind != kind or (kind != "timer" and issued.name != name):
            actual = f" named '{issued.name}'" if issued.kind != "timer" else ""
            raise ShimFailure(
                f"Non-Deterministic workflow detected: A previous execution of this orchestration "
                f"scheduled {_DESCRIBE[kind]}{named} with sequence ID {seq}, but the current replay "
                f"execution instead scheduled {_DESCRIBE[issued.kind]}{actual} with this sequence ID. "
                f"Was a change made to the orchestrator code after this instance had already started running?"
            )
        issued.in_history = True

    def _advance(self, _: _Fut | None = None) -> None:
        """ProcessAsyncActionsV2: invoke and await each action in turn."""
        while self.position < len(self.actions):
            fut = self._invoke(self.actions[self.position])
            self.position += 1
            if not fut.done:
                fut.then(self._advance)
                return
        self.finished = True

    def _invoke(self, action: dict) -> _Fut:
        kind = action.get("actionType")
        if kind == 0:
            return self._issue("activity", action["functionName"], input=action.get("input"))
        if kind == 1:
            return self._with_retry(
                action, lambda: self._issue("activity", action["functionName"], input=action.get("input"))
            )
        if kind == 2:
            return self._sub_orchestration(action)
        if kind == 3:
            return self._with_retry(action, lambda: self._sub_orchestration(action))
        if kind == 4:
            self.continued, self.continue_input = True, action.get("input")
            return _Fut(done=True)
        if kind == 5:
            return self._timer(action)
        if kind == 6:
            return self._wait_for_event(action["externalEventName"])
        if kind in (11, 12):
            children = [self._invoke(child) for child in action.get("compoundActions") or []]
            return self._when_any(children) if kind == 11 else self._when_all(children)
        raise ShimFailure(
            f"LocalDurableHost does not support action type {kind} (entities and call_http are not modelled)"
        )

    def _issue(self, kind: str, name: str | None, **details: Any) -> _Fut:
        issued = Issued(self.next_id, kind, name, _Fut(), **details)
        self.issued[issued.id] = issued
        self.next_id += 1
        return issued.fut

    def _sub_orchestration(self, action: dict) -> _Fut:
        fut = self._issue("sub-orchestration", action["functionName"], input=action.get("input"))
        issued = self.issued[self.next_id - 1]
        issued.child_id = action.get("instanceId") or f"{self.execution_id}:{issued.id}"  # DTFx default
        return fut

    def _timer(self, action: dict) -> _Fut:
        fire_at = h.parse_ts(action["fireAt"])
        if fire_at - self.now > MAX_TIMER:  # AzureStorageDurabilityProvider.ValidateDelayTime
            raise ShimFailure(
                f"The Azure Storage provider supports a maximum of 6 days for time-based delays: "
                f"the timer with sequence ID {self.next_id} fires at {action['fireAt']}, "
                f"{fire_at - self.now} after the orchestration's current time"
            )
        fut = self._issue("timer", None, fire_at=fire_at)
        return _Fut(done=True) if action.get("isCanceled") else fut

    def _with_retry(self, action: dict, attempt_once: Callable[[], _Fut]) -> _Fut:
        """DTFx RetryInterceptor: attempt, timer, attempt, ..., one extra timer after the last failure.

        The SDK sends only firstRetryIntervalInMilliseconds and maxNumberOfAttempts; the extension's
        defaults (backoff coefficient 1, no timeout) make every delay equal to the first interval.
        """
        options = action.get("retryOptions") or {}
        delay = timedelta(milliseconds=options.get("firstRetryIntervalInMilliseconds", 0))
        max_attempts = options.get("maxNumberOfAttempts", 1)
        outcome, attempts = _Fut(), [0]

        def attempt() -> None:
            attempts[0] += 1
            attempt_once().then(after_attempt)

        def after_attempt(result: _Fut) -> None:
            if not result.failed:
                outcome.resolve()
            else:
                self._issue("timer", None, fire_at=self.now + delay).then(after_timer)

        def after_timer(_: _Fut) -> None:
            if attempts[0] >= max_attempts:
                outcome.resolve(failed=True)
            else:
                attempt()

        attempt()
        return outcome

    def _wait_for_event(self, name: str) -> _Fut:
        fut, key = _Fut(), name.lower()
        if self.buffered[key]:
            self.buffered[key].popleft()
            fut.resolve()
        else:
            self.waiters[key].append(fut)
        return fut

    @staticmethod
    def _when_any(children: list[_Fut]) -> _Fut:
        if not children:
            raise ShimFailure("Task.WhenAny needs at least one task")
        outcome = _Fut()
        for child in children:
            child.then(lambda _: outcome.resolve())
        return outcome

    @staticmethod
    def _when_all(children: list[_Fut]) -> _Fut:
        outcome, pending = _Fut(), [len(children)]

        def one_done(_: _Fut) -> None:
            pending[0] -= 1
            if pending[0] == 0:
                outcome.resolve()

        if not children:
            outcome.resolve()
        for child in children:
            child.then(one_done)
        return outcome
