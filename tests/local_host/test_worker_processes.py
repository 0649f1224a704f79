"""Activities in worker processes of their own (a scaled-out app): spread, answered, and a worker that
dies fails its activity instead of hanging the orchestration."""

from __future__ import annotations

import os

from local_stack.durable_host import LocalDurableHost, WorkerProcesses
from tests.local_host import worker_app


def test_activities_run_in_the_least_busy_worker_process_and_each_reports_its_cost():
    with WorkerProcesses(
        "tests.local_host.worker_app", 2, 3, setup=worker_app.mark_setup, report=worker_app.setup_report
    ) as workers:
        with LocalDurableHost(worker_app.app, activity_workers=6, worker_processes=workers) as host:
            instance = host.start_new("fan_out", input=6)
            info = host.run_until_complete(instance, timeout_s=60)
        pids = workers.pids
    assert info.runtime_status == "Completed", info
    assert info.output == sorted(pids) and os.getpid() not in pids  # six overlapping calls: both workers took some
    reports = workers.reports
    assert sorted(r.pid for r in reports) == sorted(pids)
    assert all(r.cpu_s > 0 and r.peak_rss_mb > 10 for r in reports)
    assert all(r.report == [str(r.pid)] for r in reports)  # setup ran in the worker, report came back from it


def test_a_worker_that_dies_fails_its_activity_and_the_others_go_on():
    with (
        WorkerProcesses("tests.local_host.worker_app", 2, 2) as workers,
        LocalDurableHost(worker_app.app, activity_workers=4, worker_processes=workers) as host,
    ):
        lost = host.run_until_complete(host.start_new("lose_the_worker"), timeout_s=60)
        survivor = host.run_until_complete(host.start_new("fan_out", input=2), timeout_s=60)
    assert lost.runtime_status == "Completed" and "worker process exited" in lost.output, lost
    assert survivor.runtime_status == "Completed" and len(survivor.output) == 1, survivor  # the one left
    assert len(workers.reports) == 1
