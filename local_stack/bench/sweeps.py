"""The three ways of sweeping an estate that `make bench` compares, each run in its own process.

- ``product``: the real app (function_app: timer trigger, orchestrators, activities) on the
  local Durable host with Azurite, from the daily timer to the end of its enabling phase
  (the digest is written). The follow-up that comes next waits days on durable timers; it
  is not bounded by Azure's budgets and is not timed here.
- ``sequential``: the same discovery (the product's Resource Graph client and
  classification), then one PATCH at a time through the product's HTTP stack, waiting out
  every Retry-After.
- ``remediation``: a model of the built-in policy's remediation task: the same list, up to
  30 PATCHes in flight across the whole estate in no particular order (a seeded shuffle,
  the kindest order for it), no budget per subscription, each request waiting out only its
  own Retry-After.

The clients stop starting PATCHes after ``cap_s`` seconds of enabling, if given, and say how
many they sent, so the sequential baseline (in id order, subscription after subscription, at
a steady rate) can be measured in part and projected.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from arc_sweeper.text import clip
from local_stack.bench.processes import Cost, cpu_now, proc_status_kb

PRODUCT, SEQUENTIAL, REMEDIATION = "product", "sequential", "remediation"
REMEDIATION_PARALLELISM = 30
"""The most a policy remediation task deploys at once (its parallelDeployments, at most 30)."""
PHASE_OVER = ("following", "done", "failed")


def _host_json_activity_slots() -> int:
    """host.json's maxConcurrentActivityFunctions, the app's own figure rather than a copy of it."""
    host = json.loads((Path(__file__).parents[2] / "host.json").read_text(encoding="utf-8"))
    return int(host["extensions"]["durableTask"]["maxConcurrentActivityFunctions"])


ACTIVITY_SLOTS = _host_json_activity_slots()
"""The activities one worker process runs at once."""


@dataclass(frozen=True)
class SweepRun:
    """What one sweep did and cost, timed on the wall clock (time.time(), as the simulator logs)."""

    kind: str
    started_at: float
    discovered_at: float  # discovery over: enabling may start
    finished_at: float  # product: enabling recorded and counted; clients: last PATCH answered
    planned: int  # machines the sweep set out to PATCH
    sent: int  # of which sent (fewer only when a time cap stopped it)
    table_rows: int = 0  # entities written to Table Storage
    table_requests: int = 0  # write requests (a transaction of up to 100 rows is one)
    largest_history: int = 0  # events in the largest orchestration history
    orchestrations: int = 0
    cost: Cost = Cost(0.0, 0.0)  # product: every process of the app (CPU summed, the largest worker's peak RSS)
    rss_samples: tuple[tuple[float, float, int], ...] = ()  # (time.time(), MB, threads) of the largest worker
    worker_processes: int = 0  # product: how many ran its activities (0: the sweep's own process did)
    host_cost: Cost | None = None  # product with worker processes: the one that ran the orchestrations
    failed_activities: tuple[str, ...] = ()  # product: why each failed activity attempt failed (retried or given up)


def sweep_with_product(
    connection: Connection,
    arm_endpoint: str,
    storage_connection: str,
    activity_workers: int,
    timeout_s: float,
    activity_slots: int = ACTIVITY_SLOTS,
) -> None:
    """Child process: the app's daily timer fires; the host runs until the enabling phase is over.

    With `activity_slots`, activities run in worker processes of that many each, as many as
    `activity_workers` need (an app scaled out to that many instances); with 0, in this process.
    """
    from local_stack.durable_host import WorkerProcesses
    from local_stack.runner import LocalStack

    phases: dict[str, float] = {}
    planned = 0

    def progress(instance_id: str, status: Any) -> None:
        nonlocal planned
        if isinstance(status, dict) and instance_id == status.get("runId"):
            phases.setdefault(str(status.get("phase")), time.time())
            planned = int(status.get("machines", planned))

    env = {"ARM_ENDPOINT": arm_endpoint, "TABLE_PREFIX": "bench", "TASKHUB_NAME": "bench", "DRY_RUN": "false"}
    workers = -(-activity_workers // activity_slots) if activity_slots else 0

    def worker_processes() -> WorkerProcesses:
        return WorkerProcesses(
            "function_app", workers, activity_slots, setup=prepare_worker_process, report=table_writes_counted
        )

    with (
        counting_table_writes() as writes,
        LocalStack(
            env,
            storage_connection=storage_connection,
            on_progress=progress,
            activity_workers=activity_workers,
            worker_processes=worker_processes if workers else None,
        ) as stack,
    ):
        assert stack.host is not None
        pids = stack.workers.pids if stack.workers else [os.getpid()]
        with sampling_processes(pids) as samples:
            cpu_before, started = cpu_now(), time.time()
            stack.fire_timer()
            stack.host.run_until(lambda: any(p in phases for p in PHASE_OVER), timeout_s)
            finished = time.time()
        instances = stack.host.instances()
        failed = tuple(clip(reason, 200) for reason in stack.host.failed_activities())
    if "failed" in phases or "enabling" not in phases:
        raise RuntimeError(f"the sweep did not get through enabling: phases {sorted(phases)}")
    host = Cost.of_this_process(cpu_before)
    reports = stack.workers.reports if stack.workers else []
    if workers and len(reports) < workers:
        raise RuntimeError(f"{workers - len(reports)} of {workers} worker processes died")
    for report in reports:
        writes.update(report.report)
    cost = Cost(
        host.cpu_s + sum(r.cpu_s for r in reports), max((r.peak_rss_mb for r in reports), default=host.peak_rss_mb)
    )
    connection.send(
        SweepRun(
            PRODUCT,
            started,
            phases["enabling"],
            finished,
            planned,
            planned,
            writes["rows"],
            writes["requests"],
            max(i.max_history_length for i in instances),
            len(instances),
            cost,
            tuple(samples),
            workers,
            host if workers else None,
            failed,
        )
    )


def sweep_with_client(connection: Connection, kind: str, arm_endpoint: str, cap_s: float | None) -> None:
    """Child process: a baseline client (SEQUENTIAL or REMEDIATION) discovers, then PATCHes."""
    from arc_sweeper.arm import Arm
    from arc_sweeper.credentials import credential_for, token_scope
    from arc_sweeper.findings import classify
    from arc_sweeper.resource_graph import ResourceGraph
    from arc_sweeper.settings import Settings
    from arc_sweeper.vocabulary import Action

    settings = Settings.from_env({"ARM_ENDPOINT": arm_endpoint})
    credential = credential_for(arm_endpoint)
    credential.get_token(token_scope(arm_endpoint))
    arm = Arm(arm_endpoint, credential, hybridcompute_api_version=settings.hybridcompute_api_version)
    graph = ResourceGraph(arm_endpoint, credential)
    cpu_before, started = cpu_now(), time.time()
    policy = settings.classification_policy(datetime.now(UTC).date(), settings.releases.catalogue)
    subscriptions = [s.subscription_id for s in arm.list_subscriptions() if s.state.lower() == "enabled"]
    todo = [
        m.id for m in graph.find_machines(subscriptions) if classify(m, policy).action == Action.ENABLE_AUTO_UPGRADE
    ]
    discovered = time.time()
    stop_at = discovered + cap_s if cap_s else float("inf")

    def patch(machine_id: str) -> bool:
        """One machine, until it is not throttled; False if the cap came first."""
        while time.time() < stop_at:
            if arm.enable_automatic_upgrade(machine_id).http_status != 429:
                return True
        return False

    if kind == SEQUENTIAL:
        sent = next((index for index, machine_id in enumerate(todo) if not patch(machine_id)), len(todo))
    else:
        random.Random(7).shuffle(todo)
        with ThreadPoolExecutor(max_workers=REMEDIATION_PARALLELISM) as pool:
            sent = sum(pool.map(patch, todo))
    connection.send(
        SweepRun(kind, started, discovered, time.time(), len(todo), sent, cost=Cost.of_this_process(cpu_before))
    )


@contextmanager
def sampling_processes(pids: list[int], period_s: float = 0.5) -> Iterator[list[tuple[float, float, int]]]:
    """(time.time(), resident MB, threads) of the largest of these processes every `period_s` while the
    block runs, so that the peak can be told by phase (ru_maxrss gives only the run's)."""
    samples: list[tuple[float, float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(period_s):
            now = time.time()
            resident_mb, threads = max(resident_mb_and_threads(pid) for pid in pids)
            samples.append((now, resident_mb, threads))

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        stop.set()
        sampler.join()


def resident_mb_and_threads(pid: int) -> tuple[float, int]:
    """A live process's resident memory (MB) and threads, from /proc; (0, 0) once it has gone."""
    return proc_status_kb(pid, "VmRSS") / 1024, proc_status_kb(pid, "Threads")


_COUNTING_IN_THIS_PROCESS = ExitStack()  # a worker process's, never closed: it counts until the process ends
_WRITES_IN_THIS_PROCESS: Counter[str] = Counter()


def prepare_worker_process() -> None:
    """A worker process's setup: log as the sweep's own process does, and count its table writes for as
    long as it lives."""
    global _WRITES_IN_THIS_PROCESS
    logging.basicConfig(level=logging.ERROR)  # refused PATCHes are counted, not printed
    _WRITES_IN_THIS_PROCESS = _COUNTING_IN_THIS_PROCESS.enter_context(counting_table_writes())


def table_writes_counted() -> Counter[str]:
    return _WRITES_IN_THIS_PROCESS


@contextmanager
def counting_table_writes() -> Iterator[Counter[str]]:
    """Count entities and write requests sent through azure-data-tables' TableClient in this process."""
    from azure.data.tables import TableClient

    counts: Counter[str] = Counter()
    lock = threading.Lock()
    methods = {
        "submit_transaction": lambda args: len(list(args[0])),
        "upsert_entity": lambda args: 1,
        "update_entity": lambda args: 1,
        "create_entity": lambda args: 1,
    }
    originals = {name: getattr(TableClient, name) for name in methods}

    def counted(name: str, rows: Callable[[tuple[Any, ...]], int]) -> Callable[..., Any]:
        original = originals[name]

        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            if name == "submit_transaction":
                args = (list(args[0]), *args[1:])
            result = original(self, *args, **kwargs)
            with lock:
                counts["rows"] += rows(args)
                counts["requests"] += 1
            return result

        return write

    for name, rows in methods.items():
        setattr(TableClient, name, counted(name, rows))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(TableClient, name, original)
