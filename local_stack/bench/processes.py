"""Each part of a benchmark run in its own process, and what each process cost.

The fleet simulator, the sweeper (the Functions worker stand-in) and Azurite share two
cores, so each gets its own process: the worker's CPU time and peak RSS are then its own,
not the simulator's or Azurite's, and no two of them share a GIL. Children are started
with ``spawn`` (a fresh interpreter, as a Functions worker is) and talk over a pipe.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

_CONTEXT = multiprocessing.get_context("spawn")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cost:
    """CPU seconds and peak resident memory of one process."""

    cpu_s: float
    peak_rss_mb: float

    @classmethod
    def of_this_process(cls, cpu_before: float = 0.0) -> Cost:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return cls(usage.ru_utime + usage.ru_stime - cpu_before, usage.ru_maxrss / 1024)

    @classmethod
    def of_pid(cls, pid: int) -> Cost:
        """Another live process (Azurite, a node process), from /proc."""
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return cls((int(fields[11]) + int(fields[12])) / _TICKS, proc_status_kb(pid, "VmHWM") / 1024)


def proc_status_kb(pid: int, field: str) -> int:
    """One number from /proc/<pid>/status (VmHWM, VmRSS in kB; Threads); 0 once the process has gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name == field:
                    return int(value.split()[0])
    except FileNotFoundError:
        pass
    return 0


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Child:
    """A function running in its own process: ``target(connection, *args)``; talk with :meth:`ask`."""

    def __init__(self, target: Callable[..., None], *args: Any, daemon: bool = True) -> None:
        """`daemon`: ended with this process; only a child that is not may start processes of its own."""
        self._mine, theirs = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(target=_guarded, args=(target, theirs, *args), daemon=daemon)
        self._process.start()
        theirs.close()

    def receive(self, timeout_s: float) -> Any:
        """The child's next message; its exception re-raised here if it failed."""
        deadline = time.monotonic() + timeout_s
        while not self._mine.poll(1.0):
            if not self._process.is_alive():
                raise RuntimeError(f"benchmark process {self._process.name} died (exit code {self._process.exitcode})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"benchmark process {self._process.name}: no answer within {timeout_s:.0f}s")
        message = self._mine.recv()
        if isinstance(message, ChildFailed):
            raise RuntimeError(f"benchmark process failed:\n{message.traceback}")
        return message

    def send(self, message: Any) -> None:
        self._mine.send(message)

    def ask(self, command: Any, timeout_s: float = 600) -> Any:
        self.send(command)
        return self.receive(timeout_s)

    def close(self) -> None:
        self._mine.close()
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()


@dataclass(frozen=True)
class ChildFailed:
    traceback: str


def _guarded(target: Callable[..., None], connection: Connection, *args: Any) -> None:
    logging.basicConfig(level=logging.ERROR)  # the sweep's own warnings (refused PATCHes) are counted, not printed
    try:
        target(connection, *args)
    except Exception:  # noqa: BLE001 - reported to the parent, which raises it
        connection.send(ChildFailed(traceback.format_exc()))
    finally:
        connection.close()
