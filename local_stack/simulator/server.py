"""HTTP plumbing, the request pipeline ARM applies to every call, and the logs tests read.

Pipeline, in ARM's order: authentication (401) -> route (404/405) -> api-version
(400) -> throttling (429) -> injected fault (5xx) -> the operation. One lock
serialises requests: the fleet and the DuckDB connection are shared state. The
configured service latency (timing.py) is slept after the lock is released.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import math
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from local_stack.clock import Clock, VirtualClock
from local_stack.simulator import agents, arm, malformed, resource_graph
from local_stack.simulator.faults import FaultInjector, FaultSettings
from local_stack.simulator.fleet import Fleet, Machine, split_extension_id
from local_stack.simulator.props import MISSING
from local_stack.simulator.scripted import Script
from local_stack.simulator.throttling import Throttles, ThrottleSettings, format_resets_after
from local_stack.simulator.timing import Latency, RetryAfterWatch, retry_scope
from local_stack.simulator.wire import ArmError, Request, Response, require_api_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]  # keys lowercased, e.g. "api-version"
    body: Any  # parsed JSON (or raw text, or None)
    status: int
    error_code: str  # ARM error code, "" on success
    at: datetime  # simulated time
    wall_time: float  # time.time(), for throttling assertions
    caller: str  # hash of the bearer token (never the token itself)
    early_after_retry_after: bool = False  # sent before a Retry-After given to its caller and scope passed


@dataclass(frozen=True)
class ChangeRecord:
    machine_id: str
    field: str  # "properties.agentUpgrade.enableAutomaticUpgrade", "tags", "deleted", ...
    old: Any  # None when the key was absent
    new: Any  # None when the key was removed
    at: datetime  # simulated time the change took effect
    cause: str  # patch | agent-upgrade | disconnect | reconnect | delete | onboard |
    # extension-upgrade | extension-rollback
    extension: str = ""  # the extension's name when it changed, not the machine (field "extensions/{name}....")

    @property
    def resource_id(self) -> str:
        """The resource that changed: the machine, or one of its extensions."""
        return f"{self.machine_id}/extensions/{self.extension}" if self.extension else self.machine_id


@dataclass(frozen=True)
class _Route:
    pattern: tuple[str, ...]  # lowercase literals and {placeholders}
    handlers: dict[str, Callable[..., Response]]
    api_versions: tuple[str, ...]
    api_error: str  # error code for an unsupported api-version
    family: str  # "arg" | "subscriptions" | "machines"

    def match(self, lowered: list[str], original: list[str]) -> dict[str, str] | None:
        if len(lowered) != len(self.pattern):
            return None
        params = {}
        for token, low, orig in zip(self.pattern, lowered, original, strict=True):
            if token.startswith("{"):
                params[token[1:-1]] = orig
            elif token != low:
                return None
        return params


_MACHINES = (
    "subscriptions",
    "{subscription}",
    "resourcegroups",
    "{resource_group}",
    "providers",
    "microsoft.hybridcompute",
    "machines",
)
_HC = (arm.HYBRIDCOMPUTE_API_VERSIONS, "NoRegisteredProviderFound")
ROUTES = (
    _Route(
        ("providers", "microsoft.resourcegraph", "resources"),
        {"POST": resource_graph.handle_query},
        resource_graph.API_VERSIONS,
        "InvalidApiVersionParameter",
        "arg",
    ),
    _Route(
        ("subscriptions",),
        {"GET": arm.list_subscriptions},
        arm.SUBSCRIPTION_API_VERSIONS,
        "InvalidApiVersionParameter",
        "subscriptions",
    ),
    _Route(
        ("subscriptions", "{subscription}"),
        {"GET": arm.get_subscription},
        arm.SUBSCRIPTION_API_VERSIONS,
        "InvalidApiVersionParameter",
        "subscriptions",
    ),
    _Route(
        ("subscriptions", "{subscription}", "providers", "microsoft.hybridcompute", "machines"),
        {"GET": arm.list_machines},
        *_HC,
        "machines",
    ),
    _Route(_MACHINES, {"GET": arm.list_machines}, *_HC, "machines"),
    _Route(_MACHINES + ("{machine}",), {"GET": arm.get_machine, "PATCH": arm.patch_machine}, *_HC, "machines"),
    _Route(_MACHINES + ("{machine}", "extensions"), {"GET": arm.list_extensions}, *_HC, "machines"),
    _Route(
        _MACHINES + ("{machine}", "extensions", "{extension}"),
        {"GET": arm.get_extension, "PATCH": arm.patch_extension},
        *_HC,
        "machines",
    ),
)


class FleetSimulator:
    """ARM and Resource Graph for one fleet, on 127.0.0.1.

    ``clock`` defaults to a :class:`VirtualClock` starting at ``fleet.created_at``.
    """

    def __init__(
        self,
        fleet: Fleet,
        clock: Clock | None = None,
        *,
        throttling: ThrottleSettings | None = None,
        throttle_scale: float = 1.0,
        faults: FaultSettings | None = None,
        fault_seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        subscription_page_size: int = 50,
        machine_page_size: int = 100,
        max_log_entries: int | None = None,
        list_deleted_subscriptions: bool = False,
        latency: Latency | None = None,
    ):
        self.fleet = fleet
        self.clock: Clock = clock or VirtualClock(fleet.created_at)
        self.throttles = Throttles(
            (throttling or ThrottleSettings()).scaled(throttle_scale)
            if throttle_scale != 1.0
            else (throttling or ThrottleSettings())
        )
        self._faults = FaultInjector(faults or FaultSettings(), seed=fault_seed)
        self.subscription_page_size = subscription_page_size
        self.machine_page_size = machine_page_size
        # True: GET /subscriptions still lists Deleted subscriptions (state "Deleted"), as a lagging
        # list might; everything inside them is gone either way.
        self.list_deleted_subscriptions = list_deleted_subscriptions
        self.max_log_entries = max_log_entries
        self.caller_object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"caller:{fleet.tenant_id}"))
        self.latency = latency or Latency()
        self._retry_after = RetryAfterWatch()
        self.early_after_retry_after = 0  # requests sent before their scope's Retry-After passed
        self.requests: list[RequestRecord] = []
        self.changes: list[ChangeRecord] = []
        self._scripts: list[Script] = []
        self._lock = threading.RLock()
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        with self._lock:
            self.index = resource_graph.ResourceGraphIndex(fleet)

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> FleetSimulator:
        if self._server is None:
            self._server = ThreadingHTTPServer((self._host, self._port), _handler_for(self))
            self._server.daemon_threads = True
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fleet-simulator", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> FleetSimulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- settings tests toggle at runtime -----------------------------------------------------------

    @property
    def faults(self) -> FaultSettings:
        return self._faults.settings

    def fault_strikes(self, name: str) -> bool:
        """For handlers: whether a data-loss fault (a FaultSettings field) strikes this request."""
        return self._faults.chance(name)

    def set_faults(self, settings: FaultSettings | None = None, **rates: float) -> None:
        """``set_faults(patch=0.2)`` changes one kind; ``set_faults(FaultSettings())`` replaces all."""
        with self._lock:
            base = settings or self._faults.settings
            self._faults.settings = replace(base, **rates) if rates else base

    def corrupt_arg_ids(self, kinds: Iterable[str] = tuple(malformed.KINDS), *, seed: int = 0) -> dict[str, Machine]:
        """Resource Graph reports a malformed id for one machine per kind (see malformed.py)."""
        with self._lock:
            return malformed.corrupt_arg_ids(self.fleet, kinds, seed=seed)

    def script(self, script: Script) -> Script:
        """Answer the requests it matches as it says (scripted.py); returns it, to read its counts."""
        with self._lock:
            self._scripts.append(script)
        return script

    def unscript(self, script: Script) -> None:
        with self._lock:
            self._scripts.remove(script)

    def scripted(self, request: Request) -> Script | None:
        """The first script that takes this request, if any."""
        with self._lock:
            scripts = list(self._scripts)
        return next((s for s in scripts if s.take(request)), None)

    @property
    def throttling(self) -> ThrottleSettings:
        """The limits in force (a benchmark's throttle floor: ``arm_floor_seconds``, ``arg_floor_seconds``)."""
        return self.throttles.settings

    def set_throttling(self, settings: ThrottleSettings | None = None, *, scale: float | None = None) -> None:
        """New limits, with full buckets and fresh quota windows."""
        with self._lock:
            settings = settings or ThrottleSettings()
            self.throttles.reconfigure(settings.scaled(scale) if scale is not None else settings)

    def set_latency(self, latency: Latency) -> None:
        self.latency = latency

    # --- state and logs -----------------------------------------------------------------------------

    def settle(self, machine: Machine) -> None:
        """Bring one machine's agent up to the clock (lazily, whenever it is read)."""
        agents.settle(machine, self.clock.now(), self.fleet.model, self.record_change, self.fleet.extension_model)

    def settle_all(self) -> None:
        now = self.clock.now()
        for machine in self.fleet.machines:
            agents.settle(machine, now, self.fleet.model, self.record_change, self.fleet.extension_model)

    def record_change(
        self, machine: Machine, field: str, old: Any, new: Any, at: datetime, cause: str, extension: str = ""
    ) -> None:
        def clean(value: Any) -> Any:
            return None if value is MISSING else copy.deepcopy(value)

        self.changes.append(ChangeRecord(machine.id, field, clean(old), clean(new), at, cause, extension))
        self._trim(self.changes)

    def machine(self, machine_id: str, api_version: str = "2025-01-13") -> dict[str, Any] | None:
        """Current JSON of a machine as GET would return it (settled); None once deleted."""
        with self._lock:
            machine = self.fleet.machine_by_id(machine_id)
            if machine is None:
                raise KeyError(machine_id)
            self.settle(machine)
            return None if machine.deleted else arm.machine_json(self, machine, api_version)

    def patches(self) -> list[RequestRecord]:
        """PATCH requests that succeeded (200)."""
        with self._lock:
            return [r for r in self.requests if r.method == "PATCH" and r.status == 200]

    def extension(self, extension_id: str, api_version: str = "2025-01-13") -> dict[str, Any] | None:
        """Current JSON of an extension as GET would return it (settled); None once its machine is deleted."""
        with self._lock:
            found = self.fleet.extension_by_id(extension_id)
            if found is None:
                raise KeyError(extension_id)
            machine, ext = found
            self.settle(machine)
            return None if machine.deleted else arm.extension_json(machine, ext)

    def patch_targets(self, *, succeeded: bool = False, resource: str = "any") -> set[str]:
        """Ids PATCHes were sent to (``succeeded``: answered 2xx), spelled as the fleet does when it
        knows the resource; the path as sent otherwise. ``resource``: "extension" keeps the PATCHes to
        ``.../machines/{m}/extensions/{e}`` paths, "machine" every other one, "any" all of them."""
        if resource not in ("any", "machine", "extension"):
            raise ValueError(f"resource must be any, machine or extension, not {resource!r}")
        with self._lock:
            targets = set()
            for r in self.requests:
                if r.method != "PATCH" or (succeeded and not 200 <= r.status < 300):
                    continue
                is_extension = split_extension_id(r.path) is not None
                if resource != "any" and is_extension != (resource == "extension"):
                    continue
                targets.add(self._spelled(r.path))
            return targets

    def _spelled(self, path: str) -> str:
        """A path as the fleet spells the id of the machine or extension it names; as sent if none."""
        machine = self.fleet.machine_by_id(path)
        if machine is not None:
            return machine.id
        found = self.fleet.extension_by_id(path)
        return found[0].extension_id(found[1]) if found is not None else path

    def changes_for(self, resource_id: str, *, include_extensions: bool = False) -> list[ChangeRecord]:
        """Changes of one resource: a machine (with its extensions' too if ``include_extensions``) or
        one extension (``.../machines/{m}/extensions/{e}``)."""
        wanted = resource_id.lower()
        with self._lock:
            return [
                c
                for c in self.changes
                if c.resource_id.lower() == wanted or (include_extensions and c.machine_id.lower() == wanted)
            ]

    def reset_log(self) -> None:
        """Forget requests, changes and Retry-After deadlines (and the early count)."""
        with self._lock:
            self.requests.clear()
            self.changes.clear()
            self._retry_after.clear()
            self.early_after_retry_after = 0

    def _trim(self, entries: list) -> None:
        if self.max_log_entries and len(entries) > self.max_log_entries:
            del entries[: len(entries) - self.max_log_entries // 2]

    # --- the pipeline -------------------------------------------------------------------------------

    def handle(self, request: Request, script: Script | None = None) -> Response:
        """Serve one request (as `script` says, if given) and log it. Public so it can be driven without sockets."""
        with self._lock:
            at = self.clock.now()
            extra: dict[str, str] = {}
            retry_key = (request.caller, retry_scope(request))
            early = bool(request.caller) and self._retry_after.early(retry_key)
            try:
                response = self._dispatch(request, extra, script)
            except ArmError as exc:
                response = exc.response()
            except Exception:  # noqa: BLE001 - a simulator bug must still answer in ARM's shape
                log.error("simulator error on %s %s\n%s", request.method, request.path, traceback.format_exc())
                response = ArmError(500, "InternalServerError", "The simulator failed: see its log.").response()
            for key, value in extra.items():
                response.headers.setdefault(key, value)
            request_id = str(uuid.uuid4())
            response.headers.setdefault("x-ms-request-id", request_id)
            response.headers.setdefault("x-ms-correlation-request-id", request_id)
            retry_after = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
            if retry_after is not None and request.caller:
                self._retry_after.note(retry_key, retry_after)
            self.early_after_retry_after += early
            self.requests.append(
                RequestRecord(
                    request.method,
                    request.path,
                    dict(request.query),
                    _logged_body(request.body),
                    response.status,
                    response.error_code,
                    at,
                    time.time(),
                    request.caller,
                    early,
                )
            )
            self._trim(self.requests)
            return response

    def _dispatch(self, request: Request, extra: dict[str, str], script: Script | None = None) -> Response:
        if not request.caller:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or is not a Bearer token.",
                headers={
                    "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/'
                    f'{self.fleet.tenant_id}", '
                    'error="invalid_token", error_description="The authentication failed because '
                    "of missing 'Authorization' header.\""
                },
            )
        lowered = request.lower
        for route in ROUTES:
            params = route.match(lowered, request.segments)
            if params is not None:
                break
        else:
            raise ArmError(404, "NotFound", f"The simulator serves no resource at '{request.path}'.")
        handler = route.handlers.get(request.method)
        if handler is None:
            raise ArmError(
                405, "MethodNotAllowed", f"The requested resource does not support http method '{request.method}'."
            )
        require_api_version(request, route.api_versions, code=route.api_error, what="machines")

        self._throttle(route, request, params, extra)
        kind = {"arg": "arg", "subscriptions": "subscriptions"}.get(route.family) or (
            "patch" if request.method == "PATCH" else "machine_get"
        )
        if script is not None and script.refuse is not None:
            raise script.refuse
        fault = self._faults.draw(kind)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
            raise ArmError(fault.status, fault.code, fault.message, headers=headers)
        response = handler(self, request, params)
        return script.transform(request, response) if script is not None and script.transform else response

    def _throttle(self, route: _Route, request: Request, params: dict[str, str], extra: dict[str, str]) -> None:
        if route.family == "arg":
            allowed, remaining, resets = self.throttles.arg(request.caller)
            extra["x-ms-user-quota-remaining"] = str(remaining)
            extra["x-ms-user-quota-resets-after"] = format_resets_after(resets)
            if not allowed:
                raise ArmError(
                    429,
                    "RateLimiting",
                    "Please provide below info when asking for support: timestamp = "
                    f"{self.clock.now().isoformat()}, correlationId = {uuid.uuid4()}.",
                    headers={"Retry-After": str(max(1, math.ceil(resets)))},
                    details=[
                        {
                            "code": "RateLimiting",
                            "message": "Client application has been throttled and should not attempt to repeat "
                            "the request until an amount of time has elapsed. Please see "
                            "https://aka.ms/resourcegraph-throttling for help.",
                        }
                    ],
                )
            return
        write = request.method == "PATCH"
        scope = params.get("subscription", "tenant")
        allowed, remaining, retry_after = self.throttles.arm(request.caller, scope, "write" if write else "read")
        level = "subscription" if "subscription" in params else "tenant"
        extra[f"x-ms-ratelimit-remaining-{level}-{'writes' if write else 'reads'}"] = str(remaining)
        if not allowed:
            raise ArmError(
                429,
                "TooManyRequests",
                "The request is being throttled as the limit has been reached for operation type - "
                f"{'Write' if write else 'Read'}. For more information, see - https://aka.ms/armthrottling",
                headers={"Retry-After": str(retry_after)},
            )


def _logged_body(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", "replace")


def caller_of(authorization: str) -> str:
    """A stable, non-secret caller key from ``Authorization: Bearer <token>``; "" if absent."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return hashlib.sha256(token.strip().encode()).hexdigest()[:12]


def _handler_for(sim: FleetSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ArcFleetSimulator/1.0"
        # One write per response and no Nagle: otherwise delayed ACKs add ~40 ms a request.
        wbufsize = -1
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            split = urlsplit(self.path)
            segments = [unquote(s) for s in split.path.split("/") if s]
            query = {k.lower(): v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(
                self.command,
                unquote(split.path),
                segments,
                query,
                headers,
                self._body(),
                caller_of(headers.get("authorization", "")),
            )
            script = sim.scripted(request)
            if script is not None and script.before is not None:
                script.before(request)
            response = sim.handle(request, script)
            delay = sim.latency.seconds(request.method, response.status)
            if delay > 0:
                time.sleep(delay)  # this thread only: other requests go on meanwhile
            payload = b"" if response.body is None else json.dumps(response.body).encode()
            if script is not None and script.raw_body is not None:
                payload = script.raw_body
            wire, self.wfile = self.wfile, io.BytesIO()  # the whole answer, then out at once or trickled
            try:
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                if response.body is not None:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                answer = self.wfile.getvalue()
            finally:
                self.wfile = wire
            if script is not None and script.trickle_s > 0:
                self._trickle(answer, script)
            else:
                self.wfile.write(answer)

        def _trickle(self, answer: bytes, script: Script) -> None:
            """One byte at a time until the client hangs up (a scripted slow answer)."""
            try:
                for index in range(len(answer)):
                    self.wfile.write(answer[index : index + 1])
                    self.wfile.flush()
                    time.sleep(script.trickle_s)
            except OSError:
                script.cut_off += 1
                self.close_connection = True

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet; sim.requests is the log
            pass

    return Handler
