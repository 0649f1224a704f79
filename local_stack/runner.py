"""The local stack in one object: Azurite, the app's environment, and the local Durable host.

Used by `make demo`, the command-line runner and the end-to-end tests, so all three run
the real app (function_app.app: triggers, orchestrators, activities) the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any

import azure.functions as func
from azure.functions.timer import TimerRequest

from arc_sweeper import clock
from local_stack.azurite import start_azurite
from local_stack.clock import Clock, RealClock
from local_stack.durable_host import InstanceInfo, LocalDurableHost, WorkerProcesses

LOCAL_HOSTNAME = "127.0.0.1:7071"


class LocalStack:
    """Runs the Functions app locally with `env` as its app settings.

    App settings are process environment variables in Azure Functions, so they are set in
    os.environ for the life of the stack and restored afterwards. `worker_processes`, when given,
    is called once they are, and activities run in the processes it starts (`self.workers`).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        clock: Clock | None = None,
        storage_connection: str | None = None,
        azurite_location: str | None = None,
        on_progress: Callable[[str, Any], None] | None = None,
        activity_workers: int = 8,
        worker_processes: Callable[[], WorkerProcesses] | None = None,
    ) -> None:
        self._env = dict(env)
        self._clock = clock or RealClock()
        self._storage_connection = storage_connection
        self._azurite_location = azurite_location
        self._on_progress = on_progress
        self._activity_workers = activity_workers
        self._worker_processes = worker_processes
        self.workers: WorkerProcesses | None = None
        self._stack = ExitStack()
        self._saved_env: dict[str, str | None] = {}
        self.host: LocalDurableHost | None = None
        self.storage_connection = ""

    def __enter__(self) -> LocalStack:
        try:
            if self._storage_connection is None:
                azurite = self._stack.enter_context(
                    start_azurite(in_memory=self._azurite_location is None, location=self._azurite_location)
                )
                self.storage_connection = azurite.connection_string
            else:
                self.storage_connection = self._storage_connection
            settings = {"WEBSITE_HOSTNAME": LOCAL_HOSTNAME, **self._env, "AzureWebJobsStorage": self.storage_connection}
            for name, value in settings.items():
                self._saved_env[name] = os.environ.get(name)
                os.environ[name] = value
            import function_app  # after the environment is in place, as in the Functions host

            clock.use(self._clock.now)  # the starters read the same (possibly virtual) clock as the host
            if self._worker_processes is not None:  # started with the environment in place; closed after the host
                self.workers = self._stack.enter_context(self._worker_processes())

            self.host = self._stack.enter_context(
                LocalDurableHost(
                    function_app.app,
                    clock=self._clock,
                    on_progress=self._on_progress,
                    activity_workers=self._activity_workers,
                    worker_processes=self.workers,
                )
            )
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()
        clock.use(None)
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    # The app's own trigger functions, called as the Functions host would call them.
    def fire_timer(self) -> None:
        self.host.invoke("daily_sweep", timer=TimerRequest())

    def post_sweep(self, body: bytes | dict = b"") -> func.HttpResponse:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        request = func.HttpRequest(
            "POST", f"http://{LOCAL_HOSTNAME}/api/sweeps", body=data, headers={"Content-Type": "application/json"}
        )
        return self.host.invoke("start_sweep", req=request)

    def get_sweep(self, run_id: str) -> func.HttpResponse:
        request = func.HttpRequest(
            "GET", f"http://{LOCAL_HOSTNAME}/api/sweeps/{run_id}", body=b"", route_params={"runId": run_id}
        )
        return self.host.invoke("get_sweep", req=request)

    def get_report(self, run_id: str | None = None) -> func.HttpResponse:
        """GET /api/sweeps/{runId}/report, or /api/report (the latest completed run) without a run id."""
        if run_id is None:
            request = func.HttpRequest("GET", f"http://{LOCAL_HOSTNAME}/api/report", body=b"")
            return self.host.invoke("get_latest_report", req=request)
        request = func.HttpRequest(
            "GET", f"http://{LOCAL_HOSTNAME}/api/sweeps/{run_id}/report", body=b"", route_params={"runId": run_id}
        )
        return self.host.invoke("get_sweep_report", req=request)

    def get_rings(self) -> func.HttpResponse:
        """GET /api/rings: every ring of the staged rollout and why it is open, waiting or held."""
        request = func.HttpRequest("GET", f"http://{LOCAL_HOSTNAME}/api/rings", body=b"")
        return self.host.invoke("list_rings", req=request)

    def run_to_completion(self, run_id: str, timeout_s: float = 600) -> InstanceInfo:
        return self.host.run_until_complete(run_id, timeout_s=timeout_s)
