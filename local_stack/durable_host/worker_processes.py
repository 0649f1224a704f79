"""Activities in worker processes of their own, as a scaled-out app runs them on its instances.

On Azure every instance of the app has its own Python worker process, which runs at most
`maxConcurrentActivityFunctions` activities at once, and an activity runs on whichever instance
takes its queue message. `WorkerProcesses(app_module, count, slots)` starts `count` fresh
(spawned) processes that each import the app and run up to `slots` activities on their own
threads, and gives each activity to the least busy one. The host process keeps the
orchestrations, as the Durable extension does; each worker's memory and CPU are its own.

`setup` runs first in every worker (e.g. to instrument a client library) and `report` last;
what `report` returns comes back from `close()` with the worker's CPU time and peak RSS.
Both must be module-level functions (they are pickled by reference).
"""

from __future__ import annotations

import importlib
import itertools
import multiprocessing
import os
import resource
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from . import sdk_seam
from .worker import ActivityOutcome, execute_activity

_CONTEXT = multiprocessing.get_context("spawn")
CLOSE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class WorkerReport:
    """What one worker process cost, and what its `report` hook returned."""

    pid: int
    cpu_s: float
    peak_rss_mb: float
    report: Any = None


class WorkerProcesses:
    def __init__(
        self,
        app_module: str,
        count: int,
        slots: int,
        *,
        setup: Callable[[], None] | None = None,
        report: Callable[[], Any] | None = None,
    ) -> None:
        if count < 1 or slots < 1:
            raise ValueError("count and slots must be at least 1")
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._workers = [_Worker(app_module, slots, setup, report) for _ in range(count)]
        self.reports: list[WorkerReport] = []  # filled by close()

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def execute(self, name: str, input_text: Any) -> ActivityOutcome:
        """Run one activity in the least busy worker still alive and wait for its outcome; never raises."""
        with self._lock:
            alive = [w for w in self._workers if w.alive]
            if not alive:
                return _lost(name, "no worker process is left")
            chosen = min(alive, key=lambda w: w.busy)
            chosen.busy += 1
            call_id = next(self._ids)
        try:
            return chosen.call(call_id, name, input_text)
        finally:
            with self._lock:
                chosen.busy -= 1

    def close(self) -> list[WorkerReport]:
        """Stop every worker once its running activities are done; what each one cost (a worker that
        died reports nothing)."""
        if not self.reports:
            self.reports = [report for report in (w.close() for w in self._workers) if report is not None]
        return self.reports

    def __enter__(self) -> WorkerProcesses:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


class _Worker:
    """One worker process, the host's end of its pipe, and the calls waiting for an answer."""

    def __init__(
        self, app_module: str, slots: int, setup: Callable[[], None] | None, report: Callable[[], Any] | None
    ) -> None:
        self.connection, theirs = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_serve, args=(theirs, app_module, slots, setup, report), name="activity-worker", daemon=True
        )
        self.process.start()
        theirs.close()
        self.busy = 0
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future[ActivityOutcome]] = {}
        self._report: Future[WorkerReport] = Future()
        self._reader = threading.Thread(target=self._read, name="activity-worker-reader", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self._report.done()

    def call(self, call_id: int, name: str, input_text: Any) -> ActivityOutcome:
        answer: Future[ActivityOutcome] = Future()
        with self._send_lock:
            if self._report.done():
                return _lost(name, "the worker process has exited")
            self._pending[call_id] = answer
            try:
                self.connection.send((call_id, name, input_text))
            except OSError:  # it exited since; the reader has yet to notice
                del self._pending[call_id]
                return _lost(name, "the worker process has exited")
        return answer.result()

    def close(self) -> WorkerReport | None:
        with self._send_lock:
            if not self._report.done():
                try:
                    self.connection.send(None)
                except OSError:
                    pass
        try:
            report = self._report.result(timeout=CLOSE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a worker that died reports nothing
            report = None
        self.process.join(timeout=CLOSE_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
        return report

    def _read(self) -> None:
        """Hand each answer to its caller; if the process dies, fail what it still had."""
        try:
            while True:
                message = self.connection.recv()
                if isinstance(message, WorkerReport):
                    self._report.set_result(message)
                    return
                call_id, outcome = message
                answer = self._pending.pop(call_id, None)
                if answer is not None:  # None: a call already failed as lost
                    answer.set_result(outcome)
        except (EOFError, OSError):
            with self._send_lock:
                if not self._report.done():
                    self._report.set_exception(EOFError("worker process exited"))
                for answer in self._pending.values():
                    answer.set_result(_lost("activity", "the worker process exited while it ran"))
                self._pending.clear()


def _lost(name: str, why: str) -> ActivityOutcome:
    return ActivityOutcome(reason=f"Activity function '{name}' failed: {why}", details=why)


def _serve(
    connection: Connection,
    app_module: str,
    slots: int,
    setup: Callable[[], None] | None,
    report: Callable[[], Any] | None,
) -> None:
    """A worker process: import the app, run activities on `slots` threads until told to stop."""
    if setup is not None:
        setup()
    app = importlib.import_module(app_module).app
    activities = {
        f.name: (f.user_function, f.trigger_parameter)
        for f in sdk_seam.app_functions(app)
        if f.trigger_type == "activityTrigger"
    }
    send_lock = threading.Lock()

    def run(call_id: int, name: str, input_text: Any) -> None:
        outcome = execute_activity(activities, name, input_text)  # never raises
        with send_lock:
            connection.send((call_id, outcome))

    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="activity") as pool:
        while (message := connection.recv()) is not None:
            pool.submit(run, *message)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    connection.send(
        WorkerReport(
            os.getpid(),
            usage.ru_utime + usage.ru_stime,
            usage.ru_maxrss / 1024,
            None if report is None else report(),
        )
    )
