"""A tiny app for tests/local_host/test_worker_processes.py, imported by name in each worker process."""

from __future__ import annotations

import os
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
SETUP_RAN: list[str] = []


@app.activity_trigger(input_name="seconds")
def whose_process(seconds: float) -> int:
    """Waits a while, so that calls overlap, and says which process ran it."""
    time.sleep(seconds)
    return os.getpid()


@app.activity_trigger(input_name="code")
def exit_process(code: int) -> None:
    os._exit(code)


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    pids = yield context.task_all([context.call_activity("whose_process", 0.5) for _ in range(context.get_input())])
    return sorted(set(pids))


@app.orchestration_trigger(context_name="context")
def lose_the_worker(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity("exit_process", 3)
    except Exception as error:  # noqa: BLE001 - the failure is the result under test
        return f"failed: {error}"
    return "completed"


def mark_setup() -> None:
    SETUP_RAN.append(str(os.getpid()))


def setup_report() -> list[str]:
    return SETUP_RAN
