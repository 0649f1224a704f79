"""LocalDurableHost: instances, episodes, activities and timers on one (optionally virtual) clock.

This is the Durable extension's job on Azure: queue messages per instance, run one episode
per batch of messages through the SDK handler, turn the shim's new actions into work
(activities on a thread pool, timers on a heap, sub-orchestrations as child instances), and
record each instance's fate. See the package docstring for what is and is not modelled.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import itertools
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import quote

from ..clock import Clock, RealClock
from . import history as h
from . import sdk_seam, worker
from .episode import run_episode, take_batch
from .instances import ACTIVE, TERMINAL, DurableHostError, Instance, InstanceInfo
from .management import RPC_BASE_URL, ManagementApi
from .shim import Issued
from .worker_processes import WorkerProcesses


class LocalDurableHost:
    """Runs a v2-model Functions app's durable functions locally, replaying like the real host.

    Construct with the app (``df.DFApp`` or ``func.FunctionApp`` with registered blueprints). Use a
    ``VirtualClock`` to let multi-day timelines run in milliseconds: when nothing is runnable the
    host jumps the clock to the next due timer. The host is thread-safe; it works whenever one of
    the ``run_until_*`` methods is pumping it. At most ``activity_workers`` activities run at once,
    on the host's threads, or in ``worker_processes`` when given (as on a scaled-out app).
    """

    def __init__(
        self,
        app: Any,
        *,
        clock: Clock | None = None,
        activity_workers: int = 8,
        max_events_per_episode: int = 32,
        shuffle_seed: int | None = None,
        task_hub: str = "LocalTaskHub",
        on_progress: Callable[[str, Any], None] | None = None,
        worker_processes: WorkerProcesses | None = None,
    ):
        self.clock = clock or RealClock()
        self.task_hub = task_hub
        self.max_events_per_episode = max_events_per_episode
        self.on_progress = on_progress
        self._worker_processes = worker_processes  # None: activities run on the host's own threads
        self._rng = random.Random(shuffle_seed) if shuffle_seed is not None else None
        self._pool = ThreadPoolExecutor(max_workers=activity_workers, thread_name_prefix="durable-activity")
        self._cond = threading.Condition(threading.RLock())
        self._instances: dict[str, Instance] = {}
        self._timers: list = []  # heap of (fire_at, seq, instance id, execution id, timer id)
        self._seq = itertools.count()
        self._inflight = 0
        self._orchestrators: dict[str, Callable] = {}  # name -> the SDK's handler
        self._activities: dict[str, tuple[Callable, str]] = {}  # name -> (function, trigger parameter)
        self._functions: dict[str, sdk_seam.AppFunction] = {}  # everything else, for invoke()
        for function in sdk_seam.app_functions(app):
            if function.trigger_type == "orchestrationTrigger":
                self._orchestrators[function.name] = function.user_function
            elif function.trigger_type == "activityTrigger":
                self._activities[function.name] = (function.user_function, function.trigger_parameter)
            elif function.trigger_type != "entityTrigger":
                self._functions[function.name] = function
        self._api = ManagementApi(
            task_hub=task_hub,
            clock=self.clock,
            lock=self._cond,
            instances=self._instances,
            create=self._create,
            deliver=self._deliver,
        )

    # ---------------------------------------------------------------- public API
    def start_new(self, name: str, instance_id: str | None = None, input: Any = None) -> str:
        """Start an orchestration as ``DurableOrchestrationClient.start_new`` would."""
        with self._cond:
            return self._create(
                name, instance_id or uuid.uuid4().hex, None if input is None else sdk_seam.df_dumps(input)
            )

    def raise_event(self, instance_id: str, event_name: str, data: Any = None) -> None:
        """Raise an event exactly as the SDK client's ``raise_event`` does (same wire encoding)."""
        status, _ = self._api.handle(
            "POST", f"{RPC_BASE_URL}instances/{instance_id}/raiseEvent/{event_name}", json.dumps(data)
        )
        if status != 202:
            raise DurableHostError(f"raise_event on {instance_id!r} failed with HTTP {status}", status)

    def terminate(self, instance_id: str, reason: str = "") -> None:
        status, _ = self._api.handle(
            "POST", f"{RPC_BASE_URL}instances/{instance_id}/terminate?reason={quote(reason)}", None
        )
        if status not in (202, 410):
            raise DurableHostError(f"No instance with ID '{instance_id}' found.", status)

    def status(self, instance_id: str) -> InstanceInfo | None:
        with self._cond:
            inst = self._instances.get(instance_id)
            return None if inst is None else inst.info()

    def instances(self) -> list[InstanceInfo]:
        with self._cond:
            return [inst.info() for inst in self._instances.values()]

    def history(self, instance_id: str) -> list[dict]:
        """Copy of the current execution's history, as last sent to (plus appended by) the host."""
        with self._cond:
            return copy.deepcopy(self._instances[instance_id].history)

    def failed_activities(self) -> list[str]:
        """Why each activity attempt failed, in every instance's current execution (retried ones included)."""
        with self._cond:
            return [
                str(e.get("Reason", ""))
                for inst in self._instances.values()
                for e in inst.history
                if e["EventType"] == h.TASK_FAILED
            ]

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

        self.run_until(done, timeout_s)
        return self.status(instance_id)

    def run_until(self, condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
        """Work until ``condition()`` holds (checked after every pass, under the host's lock); raises TimeoutError.

        For callers that stop at a point inside a run, such as a benchmark at the end of a phase.
        """
        self._run(condition, timeout_s, stop_when_idle=False)

    def run_until_time(self, moment: datetime, timeout_s: float = 30.0) -> None:
        """Work until the clock reaches ``moment`` and nothing is runnable or in flight.

        Timers due by then fire in order; a virtual clock then jumps to ``moment`` and stops
        there, so a caller can fire a trigger at a given time (the daily timer of a simulated week).
        """

        def done() -> bool:
            return self.clock.now() >= moment and not self._runnable() and self._inflight == 0

        self._run(done, timeout_s, stop_when_idle=False, until=moment)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> LocalDurableHost:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # ---------------------------------------------------------------- client stand-in
    def client_binding(self) -> str:
        """The JSON string the ``durableClient`` binding passes to the worker."""
        return self._api.binding

    @contextlib.contextmanager
    def serving_client(self) -> Iterator[LocalDurableHost]:
        """Route the SDK client's HTTP calls (``post/get/delete_async_request``) into this host.

        ``DurableOrchestrationClient`` copies the module-level functions when it is constructed,
        so clients built inside this block (e.g. by the durable-client middleware) talk to the host.
        """
        with self._api.serving():
            yield self

    def invoke(self, function_name: str, **kwargs: Any) -> Any:
        """Call a registered HTTP/timer/other function as the worker would and return its result.

        The ``durableClient`` parameter gets :meth:`client_binding` (the SDK middleware builds the
        client from it), coroutines are awaited, and client calls are routed into this host.
        """
        function = self._functions.get(function_name)
        if function is None:
            raise KeyError(f"No non-durable function named {function_name!r}; known: {sorted(self._functions)}")
        for parameter in function.client_parameters:
            kwargs.setdefault(parameter, self.client_binding())
        with self.serving_client():
            return worker.call(function.user_function, **kwargs)

    # ---------------------------------------------------------------- scheduling loop
    def _run(
        self, done: Callable[[], bool], timeout_s: float, stop_when_idle: bool, until: datetime | None = None
    ) -> None:
        """Pump until ``done()`` (or idle); a virtual clock jumps to the next timer when nothing else can run,
        but never past ``until``."""
        deadline = time.monotonic() + timeout_s
        while True:
            worked = self._pass()
            with self._cond:
                if done():
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        "LocalDurableHost did not finish in time; active instances: "
                        + ", ".join(
                            f"{i.instance_id}={i.status}" for i in self._instances.values() if i.status in ACTIVE
                        )
                    )
                if worked or self._runnable():
                    continue
                next_timer = self._next_timer()
                if until is not None and until > self.clock.now() and (next_timer is None or next_timer > until):
                    next_timer = until
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
                self._deliver(instance_id, execution_id, h.timer_fired(now, timer_id, fire_at))
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

    def _live(self, instance_id: str, execution_id: str) -> Instance | None:
        inst = self._instances.get(instance_id)
        if inst is None or inst.execution_id != execution_id or inst.status not in ACTIVE:
            return None
        return inst

    def _next_timer(self) -> datetime | None:
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

    # ---------------------------------------------------------------- episodes and work
    def _episode(self, inst: Instance) -> None:
        """Run one episode, start its new work, then finish, continue as new, or wait for more messages."""
        batch = take_batch(inst, self.max_events_per_episode, self._rng)
        now = self.clock.now()
        fresh, verdict = run_episode(inst, batch, now, self._orchestrators[inst.name])
        for issued in fresh:
            self._dispatch(inst, issued)
        if verdict.status in ("Completed", "Failed"):
            reply = inst.finish(verdict.status, self.clock.now(), verdict.output, verdict.error)
            if reply is not None:
                self._deliver(*reply)
            return
        inst.close_episode(now)
        if verdict.status == "ContinuedAsNew":
            inst.continue_as_new(verdict.new_input, now)

    def _dispatch(self, inst: Instance, issued: Issued) -> None:
        """Start the work behind one new action: a timer on the heap, an activity, or a child instance."""
        if issued.kind == "timer":
            heapq.heappush(
                self._timers, (issued.fire_at, next(self._seq), inst.instance_id, inst.execution_id, issued.id)
            )
        elif issued.kind == "activity":
            self._inflight += 1
            self._pool.submit(
                self._activity_job, inst.instance_id, inst.execution_id, issued.id, issued.name, issued.input
            )
        else:
            parent = (inst.instance_id, inst.execution_id, inst.name, issued.id)
            try:
                self._create(issued.name, issued.child_id, issued.input, parent=parent)
            except DurableHostError as exc:
                self._deliver(
                    inst.instance_id, inst.execution_id, h.sub_failed(self.clock.now(), issued.id, str(exc), str(exc))
                )

    def _activity_job(self, instance_id: str, execution_id: str, task_id: int, name: str, input_text: Any) -> None:
        if self._worker_processes is None:
            outcome = worker.execute_activity(self._activities, name, input_text)  # never raises
        else:
            outcome = self._worker_processes.execute(name, input_text)  # never raises
        with self._cond:  # deliver and count down atomically, so the loop never sees a false idle
            self._deliver(instance_id, execution_id, outcome.event(self.clock.now(), task_id))
            self._inflight -= 1
            self._cond.notify_all()

    def _create(
        self, name: str, instance_id: str, input_value: Any, parent: tuple[str, str, str, int] | None = None
    ) -> str:
        """A new instance (or a fresh one over a finished instance of the same id), Pending."""
        if name not in self._orchestrators:
            known = "', '".join(self._orchestrators)
            raise DurableHostError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                f"function. Additional info: The following are the known orchestrator "
                f"functions: '{known}'."
            )
        existing = self._instances.get(instance_id)
        if existing is not None and existing.status in ACTIVE:  # OverridableExistingInstanceStates
            raise DurableHostError(
                f"An Orchestration instance with the status {existing.status} already exists.",
                500,
                "System.InvalidOperationException",
            )
        now = self.clock.now()
        inst = Instance(instance_id, name, input_value, uuid.uuid4().hex, parent, created=now, updated=now)
        inst.inbox.append(inst.execution_started(now))
        self._instances[instance_id] = inst
        self._cond.notify_all()
        return instance_id
