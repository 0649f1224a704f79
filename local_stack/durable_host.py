"""Replay-faithful local stand-in for the Functions host + Durable extension (dev/test only).

Production runs on real Durable Functions. This harness drives the app's orchestrators through
the real azure-functions-durable handler the way the extension does: every episode rebuilds the
whole history as JSON, calls the registered handler, and turns the returned action list into
work by re-enacting the extension's OutOfProcOrchestrationShim on top of DTFx rules (sequence ids,
non-determinism checks, RetryInterceptor timers, the 6-day timer limit, sub-orchestrations,
continue-as-new, external events). Protocol details: the project's reference notes,
shared/reference/durable-functions-python.md, sections 2-9 and 11.

Entry point: :class:`LocalDurableHost`.

Approximations and gaps (a harness, not a product): entities, call_http, suspend/resume/rewind/
restart and replay schema V1 are rejected or unimplemented; no storage limits, large-message
offload, throttles, latency or at-least-once redelivery. Terminate takes effect immediately and
does not notify a parent. An unknown activity fails like the extension's
TaskNonexistentActivityShim; an unknown or still-running sub-orchestration target fails the
sub-orchestration task. Any single timer longer than 6 days is rejected (Azure Storage limit);
the SDK splits long timers itself, so this only fires when splitting was bypassed. Activities
receive only their trigger argument (no ``context`` parameter).
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import heapq
import importlib
import inspect
import itertools
import json
import random
import threading
import time
import traceback
import uuid
from collections import defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, quote, unquote, urlsplit

from azure.durable_functions.models.utils.df_serialization import df_dumps
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter, OrchestrationTriggerConverter
from dateutil.parser import isoparse

from .clock import Clock, RealClock

__all__ = ["LocalDurableHost", "InstanceInfo", "DurableHostError"]

ACTIVE = ("Pending", "Running")
TERMINAL = ("Completed", "Failed", "Terminated")
MAX_TIMER = timedelta(days=6)  # Azure Storage provider MaximumDelayTime
_OOP_MARKER = "\n\n$OutOfProcData$:"

# History event types (DTFx EventType), only those the host writes or reads.
EXECUTION_STARTED, EXECUTION_COMPLETED, EXECUTION_TERMINATED = 0, 1, 3
TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 4, 5, 6
SUB_CREATED, SUB_COMPLETED, SUB_FAILED = 7, 8, 9
TIMER_CREATED, TIMER_FIRED = 10, 11
ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED, EVENT_RAISED = 12, 13, 15

_SCHEDULED_KIND = {TASK_SCHEDULED: "activity", SUB_CREATED: "sub-orchestration", TIMER_CREATED: "timer"}
_COMPLETION = {  # event type -> (kind, id field, failed)
    TASK_COMPLETED: ("activity", "TaskScheduledId", False),
    TASK_FAILED: ("activity", "TaskScheduledId", True),
    SUB_COMPLETED: ("sub-orchestration", "TaskScheduledId", False),
    SUB_FAILED: ("sub-orchestration", "TaskScheduledId", True),
    TIMER_FIRED: ("timer", "TimerId", False),
}
_DESCRIBE = {"activity": "an activity task", "sub-orchestration": "a sub-orchestration", "timer": "a durable timer"}


class DurableHostError(Exception):
    """A management call the extension would reject (unknown function, instance exists, ...)."""

    def __init__(self, message: str, status: int = 400, exception_type: str = "System.ArgumentException"):
        super().__init__(message)
        self.status, self.exception_type = status, exception_type


def _net_ts(dt: datetime) -> str:
    """.NET DateTime as the extension serialises it: 7 fractional digits and 'Z'."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _http_ts(dt: datetime) -> str:
    """createdTime/lastUpdatedTime in the HTTP status API (ToString("s") + "Z")."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text: str) -> datetime:
    dt = isoparse(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _event(event_type: int, at: datetime, event_id: int = -1, **fields: Any) -> dict:
    return {"EventType": event_type, "EventId": event_id, "IsPlayed": False, "Timestamp": _net_ts(at), **fields}


# --------------------------------------------------------------------------------------------
# Shim replay: what OutOfProcOrchestrationShim + DTFx do with one episode's action list.
# --------------------------------------------------------------------------------------------
class _ShimFailure(Exception):
    """An exception the extension would throw out of the shim; it fails the instance."""


class _Fut:
    """A DTFx-side awaitable. Faulted tasks count as done: the shim swallows their exceptions."""

    __slots__ = ("done", "failed", "_callbacks")

    def __init__(self, done: bool = False):
        self.done, self.failed, self._callbacks = done, False, []

    def then(self, callback: Callable[["_Fut"], None]) -> None:
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
class _Issued:
    """One DTFx scheduling action (activity, timer, sub-orchestration) with its sequence id."""

    id: int
    kind: str
    name: Optional[str]
    fut: _Fut
    input: Any = None
    fire_at: Optional[datetime] = None
    child_id: Optional[str] = None
    in_history: bool = False


class _ShimReplay:
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
        self.issued: dict[int, _Issued] = {}
        self.waiters: dict[str, list[_Fut]] = defaultdict(list)  # extension keeps a stack per name
        self.buffered: dict[str, deque] = defaultdict(deque)  # and a FIFO of unclaimed events
        self.now: Optional[datetime] = None  # DTFx CurrentUtcDateTime
        self.continue_input: Any = None
        self.continued = False

    def run(self, history: list[dict]) -> list[_Issued]:
        """Feed the history; return the actions issued now that have no scheduling event yet."""
        for event in history:
            self._feed(event)
        return [self.issued[i] for i in sorted(self.issued) if not self.issued[i].in_history]

    def _feed(self, event: dict) -> None:
        kind = event["EventType"]
        if kind == ORCHESTRATOR_STARTED:
            self.now = _parse_ts(event["Timestamp"])
        elif kind == EXECUTION_STARTED:
            self._advance()
        elif kind in _SCHEDULED_KIND:
            self._match(event, _SCHEDULED_KIND[kind])
        elif kind in _COMPLETION:
            expected, id_field, failed = _COMPLETION[kind]
            issued = self.issued.get(event.get(id_field))
            if issued is not None and issued.kind == expected and issued.in_history:
                issued.fut.resolve(failed)
        elif kind == EVENT_RAISED:
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
            raise _ShimFailure(
                f"Non-Deterministic workflow detected: A previous execution of this orchestration "
                f"scheduled {_DESCRIBE[kind]}{named} with sequence ID {seq}, but the current replay "
                f"execution hasn't (yet?) scheduled this task. Was a change made to the orchestrator "
                f"code after this instance had already started running?")
        if issued.kind != kind or (kind != "timer" and issued.name != name):
            actual = f" named '{issued.name}'" if issued.kind != "timer" else ""
            raise _ShimFailure(
                f"Non-Deterministic workflow detected: A previous execution of this orchestration "
                f"scheduled {_DESCRIBE[kind]}{named} with sequence ID {seq}, but the current replay "
                f"execution instead scheduled {_DESCRIBE[issued.kind]}{actual} with this sequence ID. "
                f"Was a change made to the orchestrator code after this instance had already started running?")
        issued.in_history = True

    def _advance(self, _: Optional[_Fut] = None) -> None:
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
            return self._with_retry(action, lambda: self._issue(
                "activity", action["functionName"], input=action.get("input")))
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
        raise _ShimFailure(f"LocalDurableHost does not support action type {kind} "
                           f"(entities and call_http are not modelled)")

    def _issue(self, kind: str, name: Optional[str], **details: Any) -> _Fut:
        issued = _Issued(self.next_id, kind, name, _Fut(), **details)
        self.issued[issued.id] = issued
        self.next_id += 1
        return issued.fut

    def _sub_orchestration(self, action: dict) -> _Fut:
        fut = self._issue("sub-orchestration", action["functionName"], input=action.get("input"))
        issued = self.issued[self.next_id - 1]
        issued.child_id = action.get("instanceId") or f"{self.execution_id}:{issued.id}"  # DTFx default
        return fut

    def _timer(self, action: dict) -> _Fut:
        fire_at = _parse_ts(action["fireAt"])
        if fire_at - self.now > MAX_TIMER:  # AzureStorageDurabilityProvider.ValidateDelayTime
            raise _ShimFailure(
                f"The Azure Storage provider supports a maximum of 6 days for time-based delays: "
                f"the timer with sequence ID {self.next_id} fires at {action['fireAt']}, "
                f"{fire_at - self.now} after the orchestration's current time")
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
            raise _ShimFailure("Task.WhenAny needs at least one task")
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


# --------------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------------
@dataclass
class _Instance:
    instance_id: str
    name: str
    input: Any  # the JSON value the extension stored (the SDK client sends df_dumps text)
    execution_id: str
    parent: Optional[tuple[str, str, str, int]]  # (instance id, execution id, name, task id)
    created: datetime
    updated: datetime
    status: str = "Pending"
    output: Any = None
    custom_status: Any = None
    error: Optional[str] = None
    history: list = field(default_factory=list)  # current execution
    inbox: list = field(default_factory=list)  # new messages for the current execution
    episodes: int = 0
    replays: int = 0
    replayed_events: int = 0
    executions: int = 1
    max_history: int = 0


@dataclass(frozen=True)
class InstanceInfo:
    """Snapshot of one instance, for tests and progress displays."""

    instance_id: str
    name: str
    runtime_status: str
    input: Any
    output: Any
    custom_status: Any
    created_time: datetime
    last_updated_time: datetime
    execution_id: str
    parent_instance_id: Optional[str]
    history_length: int  # current execution
    max_history_length: int  # largest history of any execution
    episodes: int  # handler invocations, all executions
    replays: int  # episodes that replayed earlier history
    replayed_events: int  # total played events fed to the SDK
    executions: int  # 1 + number of continue-as-new
    error: Optional[str]


_HTTP_PATCH_MODULES = ("azure.durable_functions.models.DurableOrchestrationClient",
                       "azure.durable_functions.models.utils.http_utils")
_HTTP_PATCH_NAMES = ("post_async_request", "get_async_request", "delete_async_request")


class LocalDurableHost:
    """Runs a v2-model Functions app's durable functions locally, replaying like the real host.

    Construct with the app (``df.DFApp`` or ``func.FunctionApp`` with registered blueprints). Use a
    ``VirtualClock`` to let multi-day timelines run in milliseconds: when nothing is runnable the
    host jumps the clock to the next due timer. The host is thread-safe; it works whenever one of
    the ``run_until_*`` methods is pumping it.
    """

    def __init__(self, app: Any, *, clock: Optional[Clock] = None, activity_workers: int = 8,
                 max_events_per_episode: int = 32, shuffle_seed: Optional[int] = None,
                 task_hub: str = "LocalTaskHub",
                 on_progress: Optional[Callable[[str, Any], None]] = None):
        self.clock = clock or RealClock()
        self.task_hub = task_hub
        self.max_events_per_episode = max_events_per_episode
        self.on_progress = on_progress
        self._rng = random.Random(shuffle_seed) if shuffle_seed is not None else None
        self._pool = ThreadPoolExecutor(max_workers=activity_workers, thread_name_prefix="durable-activity")
        self._cond = threading.Condition(threading.RLock())
        self._instances: dict[str, _Instance] = {}
        self._timers: list = []  # heap of (fire_at, seq, instance id, execution id, timer id)
        self._seq = itertools.count()
        self._inflight = 0
        self._patch_lock = threading.Lock()
        self._orchestrators: dict[str, Callable] = {}
        self._activities: dict[str, tuple[Callable, str]] = {}
        self._functions: dict[str, Any] = {}
        app.functions_bindings = None  # get_functions() is not idempotent (python-worker#1867)
        for function in app.get_functions():
            trigger = function.get_trigger()
            name = function.get_function_name()
            if trigger.type == "orchestrationTrigger":
                self._orchestrators[name] = function.get_user_function()  # the SDK's handler
            elif trigger.type == "activityTrigger":
                self._activities[name] = (function.get_user_function(), trigger.name)
            elif trigger.type != "entityTrigger":
                self._functions[name] = function
        app.functions_bindings = None
        self._base_url = "http://127.0.0.1:7071/runtime/webhooks/durabletask"
        self._rpc_base_url = "http://127.0.0.1:17071/durabletask/"
        self._binding = self._make_binding()

    # ---------------------------------------------------------------- public API
    def start_new(self, name: str, instance_id: Optional[str] = None, input: Any = None) -> str:
        """Start an orchestration as ``DurableOrchestrationClient.start_new`` would."""
        with self._cond:
            return self._create(name, instance_id or uuid.uuid4().hex,
                                None if input is None else df_dumps(input))

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        """Raise an event exactly as the SDK client's ``raise_event`` does (same wire encoding)."""
        status, _ = self._http("POST", f"{self._rpc_base_url}instances/{instance_id}/raiseEvent/"
                                          f"{event_name}", json.dumps(data))
        if status != 202:
            raise DurableHostError(f"raise_event on {instance_id!r} failed with HTTP {status}", status)

    def terminate(self, instance_id: str, reason: str = "") -> None:
        status, _ = self._http("POST", f"{self._rpc_base_url}instances/{instance_id}/terminate"
                                       f"?reason={quote(reason)}", None)
        if status not in (202, 410):
            raise DurableHostError(f"No instance with ID '{instance_id}' found.", status)

    def status(self, instance_id: str) -> Optional[InstanceInfo]:
        with self._cond:
            inst = self._instances.get(instance_id)
            return None if inst is None else self._info(inst)

    def instances(self) -> list[InstanceInfo]:
        with self._cond:
            return [self._info(inst) for inst in self._instances.values()]

    def history(self, instance_id: str) -> list[dict]:
        """Copy of the current execution's history, as last sent to (plus appended by) the host."""
        with self._cond:
            return copy.deepcopy(self._instances[instance_id].history)

    def run_until_idle(self, timeout_s: float = 30.0) -> None:
        """Work until nothing is runnable, no activity is in flight and no live timer remains."""
        self._run(lambda: False, timeout_s, stop_when_idle=True)

    def run_until_complete(self, instance_id: str, timeout_s: float = 30.0) -> InstanceInfo:
        """Work until the instance is Completed, Failed or Terminated; raises TimeoutError."""
        if self.status(instance_id) is None:
            raise KeyError(f"unknown instance {instance_id!r}")

        def done() -> bool:
            inst = self._instances.get(instance_id)
            return inst is None or inst.status in TERMINAL  # None: purged meanwhile
        self._run(done, timeout_s, stop_when_idle=False)
        return self.status(instance_id)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "LocalDurableHost":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # ---------------------------------------------------------------- client stand-in
    def client_binding(self) -> str:
        """The JSON string the ``durableClient`` binding passes to the worker."""
        return self._binding

    @contextlib.contextmanager
    def serving_client(self):
        """Route the SDK client's HTTP calls (``post/get/delete_async_request``) into this host.

        ``DurableOrchestrationClient`` copies the module-level functions when it is constructed,
        so clients built inside this block (e.g. by the durable-client middleware) talk to the host.
        """
        async def post(url, data=None, trace_parent=None, trace_state=None, function_invocation_id=None):
            return self._http("POST", url, data)

        async def get(url, function_invocation_id=None):
            return self._http("GET", url, None)

        async def delete(url, function_invocation_id=None):
            return self._http("DELETE", url, None)

        replacements = dict(zip(_HTTP_PATCH_NAMES, (post, get, delete)))
        with self._patch_lock:
            modules = [importlib.import_module(m) for m in _HTTP_PATCH_MODULES]
            saved = [(m, n, getattr(m, n)) for m in modules for n in _HTTP_PATCH_NAMES]
            for module, name, _ in saved:
                setattr(module, name, replacements[name])
        try:
            yield self
        finally:
            with self._patch_lock:
                for module, name, original in reversed(saved):
                    setattr(module, name, original)

    def invoke(self, function_name: str, **kwargs: Any) -> Any:
        """Call a registered HTTP/timer/other function as the worker would and return its result.

        The ``durableClient`` parameter gets :meth:`client_binding` (the SDK middleware builds the
        client from it), coroutines are awaited, and client calls are routed into this host.
        """
        function = self._functions.get(function_name)
        if function is None:
            raise KeyError(f"No non-durable function named {function_name!r}; known: {sorted(self._functions)}")
        for binding in function.get_bindings():
            if binding.type == "durableClient":
                kwargs.setdefault(binding.name, self.client_binding())
        with self.serving_client():
            result = function.get_user_function()(**kwargs)
            if inspect.isawaitable(result):
                result = _run_coroutine(result)
        return result

    # ---------------------------------------------------------------- scheduling loop
    def _run(self, done: Callable[[], bool], timeout_s: float, stop_when_idle: bool) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            worked = self._pass()
            with self._cond:
                if done():
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("LocalDurableHost did not finish in time; active instances: " + ", ".join(
                        f"{i.instance_id}={i.status}" for i in self._instances.values() if i.status in ACTIVE))
                if worked or self._runnable():
                    continue
                next_timer = self._next_timer()
                if self._inflight == 0:
                    if next_timer is None and stop_when_idle:
                        return
                    if next_timer is not None and hasattr(self.clock, "advance_to"):
                        self.clock.advance_to(next_timer)  # virtual time: jump to the next timer
                        continue
                if next_timer is not None:
                    remaining = min(remaining, max((next_timer - self.clock.now()).total_seconds(), 0.001))
                self._cond.wait(remaining)  # woken by activity results, client calls or new instances

    def _pass(self) -> bool:
        """Fire due timers, then run one episode for every instance with messages."""
        with self._cond:
            now = self.clock.now()
            while self._timers and self._timers[0][0] <= now:
                fire_at, _, instance_id, execution_id, timer_id = heapq.heappop(self._timers)
                self._deliver(instance_id, execution_id,
                              _event(TIMER_FIRED, now, TimerId=timer_id, FireAt=_net_ts(fire_at)))
            ready = [inst for inst in self._instances.values() if inst.inbox and inst.status in ACTIVE]
        progressed = []
        for inst in ready:
            with self._cond:
                if inst.inbox and inst.status in ACTIVE:
                    self._episode(inst)
                    progressed.append((inst.instance_id, inst.custom_status))
        if self.on_progress:
            for instance_id, custom_status in progressed:
                self.on_progress(instance_id, custom_status)
        return bool(ready)

    def _runnable(self) -> bool:
        return any(inst.inbox and inst.status in ACTIVE for inst in self._instances.values())

    def _live(self, instance_id: str, execution_id: str) -> Optional[_Instance]:
        inst = self._instances.get(instance_id)
        if inst is None or inst.execution_id != execution_id or inst.status not in ACTIVE:
            return None
        return inst

    def _next_timer(self) -> Optional[datetime]:
        """Earliest timer of a live execution; timers of finished executions are dropped."""
        while self._timers and self._live(self._timers[0][2], self._timers[0][3]) is None:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def _deliver(self, instance_id: str, execution_id: str, event: dict) -> None:
        """Queue a message; messages for another execution or a finished instance are dropped."""
        inst = self._live(instance_id, execution_id)
        if inst is not None:
            inst.inbox.append(event)
            self._cond.notify_all()

    # ---------------------------------------------------------------- one episode
    def _episode(self, inst: _Instance) -> None:
        batch = self._take_batch(inst)
        now = self.clock.now()
        started = _event(ORCHESTRATOR_STARTED, now)
        past = [{**e, "IsPlayed": True} for e in inst.history]
        history = past + [started] + [{**e, "IsPlayed": False} for e in batch]
        parent_id = inst.parent[0] if inst.parent else None
        body = json.dumps({
            "history": history, "input": inst.input, "instanceId": inst.instance_id,
            "isReplaying": False, "parentInstanceId": parent_id,
            "upperSchemaVersion": 1, "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": "3.00:00:00", "maximumShortTimerDuration": "6.00:00:00",
            "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
        })
        inst.episodes += 1
        inst.replays += bool(past)
        inst.replayed_events += len(past)
        inst.history = inst.history + [started] + batch
        inst.status, inst.updated = "Running", now
        state, crash = self._call_orchestrator(inst.name, body)
        if crash is not None:
            return self._finish(inst, "Failed", error=f"Orchestrator function '{inst.name}' failed: {crash}")
        if state.get("customStatus") is not None:  # the shim applies it before replaying actions
            inst.custom_status = state["customStatus"]
        try:
            actions = state.get("actions") or []
            if state.get("schemaVersion", 0) < 1 or len(actions) != 1:
                raise _ShimFailure(f"LocalDurableHost expects replay schema V2/V3 with one action list, got "
                                   f"schemaVersion={state.get('schemaVersion')} and {len(actions)} lists")
            shim = _ShimReplay(actions[0], inst.execution_id)
            fresh = shim.run(history)
        except _ShimFailure as exc:
            return self._finish(inst, "Failed", error=str(exc))
        inst.history.extend(self._scheduled_event(issued, now) for issued in fresh)
        for issued in fresh:
            self._dispatch(inst, issued)
        if not shim.finished:
            return self._close_episode(inst, now)  # waiting on the first pending task
        if state.get("error"):
            self._finish(inst, "Failed", error=f"Orchestrator function '{inst.name}' failed: {state['error']}")
        elif state.get("isDone") and shim.continued:
            self._close_episode(inst, now)
            self._continue_as_new(inst, shim.continue_input, now)
        elif state.get("isDone"):
            self._finish(inst, "Completed", output=state.get("output"))
        else:
            self._close_episode(inst, now)

    def _take_batch(self, inst: _Instance) -> list[dict]:
        """Up to max_events_per_episode messages, optionally shuffled (ExecutionStarted stays first)."""
        if self._rng is not None and len(inst.inbox) > 1:
            head = 1 if inst.inbox[0]["EventType"] == EXECUTION_STARTED else 0
            rest = inst.inbox[head:]
            self._rng.shuffle(rest)
            inst.inbox[head:] = rest
        batch = inst.inbox[:self.max_events_per_episode]
        del inst.inbox[:self.max_events_per_episode]
        return batch

    def _call_orchestrator(self, name: str, body: str) -> tuple[Optional[dict], Optional[str]]:
        """Invoke the SDK handler as the worker does; errors carry state after $OutOfProcData$."""
        context = OrchestrationTriggerConverter.decode(meta.Datum(type="string", value=body), trigger_metadata=None)
        try:
            return json.loads(self._orchestrators[name](context)), None
        except Exception as exc:  # noqa: BLE001 - the worker reports any exception to the host
            message = str(exc)
            if _OOP_MARKER in message:
                return json.loads(message.rpartition(_OOP_MARKER)[2]), None
            return None, f"{type(exc).__name__}: {message}"

    def _close_episode(self, inst: _Instance, now: datetime) -> None:
        inst.history.append(_event(ORCHESTRATOR_COMPLETED, now))
        inst.max_history = max(inst.max_history, len(inst.history))
        inst.updated = now

    def _finish(self, inst: _Instance, status: str, output: Any = None, error: Optional[str] = None) -> None:
        now = self.clock.now()
        inst.status, inst.error = status, error
        inst.output = error if status == "Failed" else output
        inst.inbox.clear()
        inst.history.append(_event(EXECUTION_COMPLETED, now, OrchestrationStatus=status,
                                   Result=None if inst.output is None else json.dumps(inst.output)))
        self._close_episode(inst, now)
        if inst.parent:
            parent_id, parent_execution, _, task_id = inst.parent
            if status == "Completed":
                reply = _event(SUB_COMPLETED, now, TaskScheduledId=task_id,
                               Result=None if output is None else json.dumps(output))
            else:
                reply = _event(SUB_FAILED, now, TaskScheduledId=task_id, Reason=error,
                               Details=f"Message: {error}")
            self._deliver(parent_id, parent_execution, reply)

    def _continue_as_new(self, inst: _Instance, new_input: Any, now: datetime) -> None:
        """Fresh execution id and history; unprocessed messages of the old execution are dropped."""
        inst.execution_id = uuid.uuid4().hex
        inst.input = new_input
        inst.history = []
        inst.executions += 1
        inst.inbox = [self._execution_started(inst, now)]

    def _scheduled_event(self, issued: _Issued, now: datetime) -> dict:
        if issued.kind == "activity":
            return _event(TASK_SCHEDULED, now, issued.id, Name=issued.name, Version="", Input=issued.input)
        if issued.kind == "timer":
            return _event(TIMER_CREATED, now, issued.id, FireAt=_net_ts(issued.fire_at))
        return _event(SUB_CREATED, now, issued.id, Name=issued.name, Version="",
                      InstanceId=issued.child_id, Input=issued.input)

    def _dispatch(self, inst: _Instance, issued: _Issued) -> None:
        if issued.kind == "timer":
            heapq.heappush(self._timers, (issued.fire_at, next(self._seq), inst.instance_id,
                                          inst.execution_id, issued.id))
        elif issued.kind == "activity":
            self._inflight += 1
            self._pool.submit(self._activity_job, inst.instance_id, inst.execution_id, issued.id,
                              issued.name, issued.input)
        else:
            parent = (inst.instance_id, inst.execution_id, inst.name, issued.id)
            try:
                self._create(issued.name, issued.child_id, issued.input, parent=parent)
            except DurableHostError as exc:
                self._deliver(inst.instance_id, inst.execution_id, _event(
                    SUB_FAILED, self.clock.now(), TaskScheduledId=issued.id, Reason=str(exc), Details=str(exc)))

    # ---------------------------------------------------------------- activities
    def _activity_job(self, instance_id: str, execution_id: str, task_id: int, name: str, input_text: Any) -> None:
        fields = self._execute_activity(name, input_text)  # never raises
        with self._cond:  # deliver and count down atomically, so the loop never sees a false idle
            event_type = fields.pop("EventType")
            self._deliver(instance_id, execution_id,
                          _event(event_type, self.clock.now(), TaskScheduledId=task_id, **fields))
            self._inflight -= 1
            self._cond.notify_all()

    def _execute_activity(self, name: str, input_text: Any) -> dict:
        """Run one activity through the worker's own converter; failures become TaskFailed fields."""
        entry = self._activities.get(name)
        if entry is None:  # the extension's TaskNonexistentActivityShim
            known = "', '".join(self._activities)
            message = (f"The function '{name}' doesn't exist, is disabled, or is not an activity function. "
                       "Additional info: " + (f"The following are the known activity functions: '{known}'."
                                              if known else "No activity functions are currently registered!"))
            return {"EventType": TASK_FAILED, "Reason": f"Activity function '{name}' failed: {message}",
                    "Details": json.dumps({"ClassName": "Microsoft.Azure.WebJobs.Extensions.DurableTask."
                                                        "FunctionFailedException", "Message": message})}
        function, parameter = entry
        try:
            value = None if input_text is None else ActivityTriggerConverter.decode(
                meta.Datum(type="json", value=input_text), trigger_metadata=None)
            result = function(**{parameter: value})
            if inspect.isawaitable(result):
                result = _run_coroutine(result)
            return {"EventType": TASK_COMPLETED,
                    "Result": ActivityTriggerConverter.encode(result, expected_type=None).value}
        except Exception as exc:  # noqa: BLE001 - any activity failure becomes TaskFailed
            return {"EventType": TASK_FAILED, "Reason": f"Activity function '{name}' failed: {type(exc).__name__}: {exc}",
                    "Details": traceback.format_exc()}

    # ---------------------------------------------------------------- management
    def _create(self, name: str, instance_id: str, input_value: Any,
                parent: Optional[tuple[str, str, str, int]] = None) -> str:
        if name not in self._orchestrators:
            known = "', '".join(self._orchestrators)
            raise DurableHostError(f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                                   f"function. Additional info: The following are the known orchestrator "
                                   f"functions: '{known}'.")
        existing = self._instances.get(instance_id)
        if existing is not None and existing.status in ACTIVE:  # OverridableExistingInstanceStates
            raise DurableHostError(f"An Orchestration instance with the status {existing.status} already exists.",
                                   500, "System.InvalidOperationException")
        now = self.clock.now()
        inst = _Instance(instance_id, name, input_value, uuid.uuid4().hex, parent, created=now, updated=now)
        inst.inbox.append(self._execution_started(inst, now))
        self._instances[instance_id] = inst
        self._cond.notify_all()
        return instance_id

    def _execution_started(self, inst: _Instance, now: datetime) -> dict:
        parent = None
        if inst.parent:
            parent_id, parent_execution, parent_name, task_id = inst.parent
            parent = {"Name": parent_name, "Version": "", "TaskScheduleId": task_id,
                      "OrchestrationInstance": {"InstanceId": parent_id, "ExecutionId": parent_execution}}
        return _event(EXECUTION_STARTED, now, Name=inst.name, Version="",
                      Input=None if inst.input is None else json.dumps(inst.input),
                      OrchestrationInstance={"InstanceId": inst.instance_id, "ExecutionId": inst.execution_id},
                      ParentInstance=parent, Tags=None, Correlation=None, ScheduledStartTime=None,
                      Generation=inst.executions - 1)

    def _info(self, inst: _Instance) -> InstanceInfo:
        return InstanceInfo(inst.instance_id, inst.name, inst.status, inst.input, inst.output, inst.custom_status,
                            inst.created, inst.updated, inst.execution_id, inst.parent[0] if inst.parent else None,
                            len(inst.history), inst.max_history, inst.episodes, inst.replays,
                            inst.replayed_events, inst.executions, inst.error)

    def _status_json(self, inst: _Instance) -> dict:
        """The extension's HTTP status payload (StatusResponsePayload)."""
        return {"name": inst.name, "instanceId": inst.instance_id, "runtimeStatus": inst.status,
                "input": inst.input, "customStatus": inst.custom_status, "output": inst.output,
                "createdTime": _http_ts(inst.created), "lastUpdatedTime": _http_ts(inst.updated)}

    def _management_urls(self, instance_id: str) -> dict:
        urls = json.loads(self._binding)["managementUrls"]
        return {key: value.replace("INSTANCEID", instance_id) for key, value in urls.items()}

    def _make_binding(self) -> str:
        base, code = self._base_url, "code=local-placeholder-key"
        query = f"taskHub={self.task_hub}&connection=Storage&{code}"
        instance = f"{base}/instances/INSTANCEID"
        return json.dumps({
            "taskHubName": self.task_hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{code}",
                "createAndWaitOnNewInstancePostUri": f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                                                     f"?timeout={{timeoutInSeconds}}&pollingInterval="
                                                     f"{{intervalInSeconds}}&{code}",
            },
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": f"{instance}?{query}",
                "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
                "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
                "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
                "purgeHistoryDeleteUri": f"{instance}?{query}",
                "restartPostUri": f"{instance}/restart?{query}",
                "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
                "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
            },
            "baseUrl": base,
            "requiredQueryStringParameters": code,
            "rpcBaseUrl": self._rpc_base_url,
            "httpBaseUrl": "",
            "maxGrpcMessageSizeInBytes": 0,
            "grpcHttpClientTimeout": "00:01:40",
        })

    def _http(self, method: str, url: str, data: Any) -> list:
        """The extension's HTTP management API (HttpApiHandler) for the calls the SDK makes.

        ``data`` is what the SDK hands to aiohttp's ``json=``; the extension decodes the body back
        to that same value, so the SDK's double encoding of inputs and event payloads is preserved.
        """
        parts = urlsplit(url)
        path, query = unquote(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()}
        for base in (urlsplit(self._rpc_base_url).path, urlsplit(self._base_url).path + "/"):
            if path.startswith(base):
                segments = path[len(base):].split("/")
                break
        else:
            return [404, None]
        with self._cond:
            try:
                return self._route(method, segments, query, data)
            except DurableHostError as exc:
                message = "Something went wrong while processing your request" if exc.status == 500 \
                    else "One or more of the arguments submitted is incorrect"
                return [exc.status, {"Message": message, "ExceptionMessage": str(exc),
                                     "ExceptionType": exc.exception_type, "StackTrace": ""}]

    def _route(self, method: str, segments: list[str], query: dict, data: Any) -> list:
        head = segments[0]
        if head == "orchestrators" and method == "POST" and len(segments) >= 2:
            instance_id = segments[2] if len(segments) > 2 and segments[2] else uuid.uuid4().hex
            self._create(segments[1], instance_id, data)
            return [202, self._management_urls(instance_id)]
        if head != "instances":
            return [404, None]
        instance_id = segments[1] if len(segments) > 1 else ""
        operation = segments[2] if len(segments) > 2 else ""
        inst = self._instances.get(instance_id)
        if not instance_id and method == "GET":
            return [200, [self._status_json(i) for i in self._instances.values() if self._matches(i, query)]]
        if not instance_id and method == "DELETE":  # purge by filter: only finished instances go
            doomed = [i for i in self._instances.values() if i.status in TERMINAL and self._matches(i, query)]
            for inst in doomed:
                del self._instances[inst.instance_id]
            return [200 if doomed else 404, {"instancesDeleted": len(doomed)}]
        if inst is None:
            return [404, ""]  # empty body: the SDK turns it into a falsy status
        if not operation and method == "GET":
            return [202 if inst.status in ACTIVE else 200, self._status_json(inst)]
        if not operation and method == "DELETE":
            if inst.status not in TERMINAL:
                return [200, {"instancesDeleted": 0}]
            del self._instances[instance_id]
            return [200, {"instancesDeleted": 1}]
        if operation == "raiseEvent" and method == "POST" and len(segments) > 3:
            if inst.status in TERMINAL:
                return [410, None]
            # The body (already json.dumps'ed by the SDK) becomes a JToken string, stored as JSON.
            self._deliver(inst.instance_id, inst.execution_id, _event(
                EVENT_RAISED, self.clock.now(), Name=segments[3], Input=json.dumps(data)))
            return [202, None]
        if operation == "terminate" and method == "POST":
            if inst.status in TERMINAL:
                return [410, None]
            now = self.clock.now()
            inst.inbox.clear()
            inst.status, inst.output, inst.updated = "Terminated", query.get("reason", ""), now
            inst.history.append(_event(EXECUTION_TERMINATED, now, Input=inst.output))
            return [202, None]
        return [501, f"LocalDurableHost does not implement {method} instances/{{id}}/{operation}"]

    @staticmethod
    def _matches(inst: _Instance, query: dict) -> bool:
        statuses = query.get("runtimeStatus")
        if statuses and inst.status not in statuses.split(","):
            return False
        if query.get("instanceIdPrefix") and not inst.instance_id.startswith(query["instanceIdPrefix"]):
            return False
        if query.get("createdTimeFrom") and inst.created < _parse_ts(query["createdTimeFrom"]):
            return False
        return not (query.get("createdTimeTo") and inst.created > _parse_ts(query["createdTimeTo"]))


def _run_coroutine(awaitable: Any) -> Any:
    """Await from sync code; uses a helper thread if this thread already runs an event loop."""
    async def wrapper():
        return await awaitable
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapper())
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(wrapper())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
