"""The durable client's side of the host: the binding JSON and the HTTP management API.

The SDK's ``DurableOrchestrationClient`` is built from the ``durableClient`` binding JSON and
sends every call (start, status, raise event, terminate, purge) as HTTP to the extension. Here
those requests are routed, through the seam, into :class:`ManagementApi`, which answers as the
extension's HttpApiHandler does, so the app's real HTTP and timer functions run unchanged.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..clock import Clock
from . import history as h
from . import sdk_seam
from .instances import ACTIVE, TERMINAL, DurableHostError, Instance

BASE_URL = "http://127.0.0.1:7071/runtime/webhooks/durabletask"
RPC_BASE_URL = "http://127.0.0.1:17071/durabletask/"


def http_ts(dt: datetime) -> str:
    """createdTime/lastUpdatedTime in the HTTP status API (ToString("s") + "Z")."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def client_binding(task_hub: str) -> str:
    """The JSON string the ``durableClient`` binding passes to the worker."""
    code = "code=local-placeholder-key"
    query = f"taskHub={task_hub}&connection=Storage&{code}"
    instance = f"{BASE_URL}/instances/INSTANCEID"
    return json.dumps(
        {
            "taskHubName": task_hub,
            "creationUrls": {
                "createNewInstancePostUri": f"{BASE_URL}/orchestrators/{{functionName}}[/{{instanceId}}]?{code}",
                "createAndWaitOnNewInstancePostUri": f"{BASE_URL}/orchestrators/{{functionName}}[/{{instanceId}}]"
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
            "baseUrl": BASE_URL,
            "requiredQueryStringParameters": code,
            "rpcBaseUrl": RPC_BASE_URL,
            "httpBaseUrl": "",
            "maxGrpcMessageSizeInBytes": 0,
            "grpcHttpClientTimeout": "00:01:40",
        }
    )


class ManagementApi:
    """The extension's HTTP management API over one host's instances.

    It works on the host's instance table under the host's lock, creating instances and
    delivering messages through the host's own ``create`` and ``deliver``.
    """

    def __init__(
        self,
        *,
        task_hub: str,
        clock: Clock,
        lock: Any,
        instances: dict[str, Instance],
        create: Callable[[str, str, Any], str],
        deliver: Callable[[str, str, dict], None],
    ):
        self.binding = client_binding(task_hub)
        self.clock, self._lock, self._instances = clock, lock, instances
        self._create, self._deliver = create, deliver

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """Route the SDK client's HTTP calls into :meth:`handle` while the block runs."""

        async def post(url, data=None, trace_parent=None, trace_state=None, function_invocation_id=None):
            return self.handle("POST", url, data)

        async def get(url, function_invocation_id=None):
            return self.handle("GET", url, None)

        async def delete(url, function_invocation_id=None):
            return self.handle("DELETE", url, None)

        with sdk_seam.client_http_routed_to(post, get, delete):
            yield

    def handle(self, method: str, url: str, data: Any) -> list:
        """Answer one request as ``[status, body]``, the SDK HTTP utility's return shape.

        ``data`` is what the SDK hands to aiohttp's ``json=``; the extension decodes the body back
        to that same value, so the SDK's double encoding of inputs and event payloads is preserved.
        """
        parts = urlsplit(url)
        path, query = unquote(parts.path), {k: v[0] for k, v in parse_qs(parts.query).items()}
        for base in (urlsplit(RPC_BASE_URL).path, urlsplit(BASE_URL).path + "/"):
            if path.startswith(base):
                segments = path[len(base) :].split("/")
                break
        else:
            return [404, None]
        with self._lock:
            try:
                return self._route(method, segments, query, data)
            except DurableHostError as exc:
                message = (
                    "Something went wrong while processing your request"
                    if exc.status == 500
                    else "One or more of the arguments submitted is incorrect"
                )
                return [
                    exc.status,
                    {
                        "Message": message,
                        "ExceptionMessage": str(exc),
                        "ExceptionType": exc.exception_type,
                        "StackTrace": "",
                    },
                ]

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
            self._deliver(
                inst.instance_id, inst.execution_id, h.event_raised(self.clock.now(), segments[3], json.dumps(data))
            )
            return [202, None]
        if operation == "terminate" and method == "POST":
            if inst.status in TERMINAL:
                return [410, None]
            now = self.clock.now()
            inst.inbox.clear()
            inst.status, inst.output, inst.updated = "Terminated", query.get("reason", ""), now
            inst.history.append(h.execution_terminated(now, inst.output))
            return [202, None]
        return [501, f"LocalDurableHost does not implement {method} instances/{{id}}/{operation}"]

    def _management_urls(self, instance_id: str) -> dict:
        urls = json.loads(self.binding)["managementUrls"]
        return {key: value.replace("INSTANCEID", instance_id) for key, value in urls.items()}

    @staticmethod
    def _status_json(inst: Instance) -> dict:
        """The extension's HTTP status payload (StatusResponsePayload)."""
        return {
            "name": inst.name,
            "instanceId": inst.instance_id,
            "runtimeStatus": inst.status,
            "input": inst.input,
            "customStatus": inst.custom_status,
            "output": inst.output,
            "createdTime": http_ts(inst.created),
            "lastUpdatedTime": http_ts(inst.updated),
        }

    @staticmethod
    def _matches(inst: Instance, query: dict) -> bool:
        statuses = query.get("runtimeStatus")
        if statuses and inst.status not in statuses.split(","):
            return False
        if query.get("instanceIdPrefix") and not inst.instance_id.startswith(query["instanceIdPrefix"]):
            return False
        if query.get("createdTimeFrom") and inst.created < h.parse_ts(query["createdTimeFrom"]):
            return False
        return not (query.get("createdTimeTo") and inst.created > h.parse_ts(query["createdTimeTo"]))
