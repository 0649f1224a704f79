"""A loopback HTTP proxy in front of Azurite's Table service that fails what it is told to.

The app reaches Table Storage only through `AzureWebJobsStorage`; pointing its
TableEndpoint here puts a real network hop between them, where a test can make storage
fail as it does in Azure, without touching the product:

- ``fail``: answer 503 ServerBusy (Table Storage's "try again") instead of forwarding;
- ``lose_answer``: forward the request (Azurite applies it), then hang up without an answer;
- ``drop``: hang up without forwarding (the service unreachable).

A :class:`Rule` strikes ``operations`` requests it matches (every one when None), after
letting the first ``after`` through, and every retry of a request it struck (the SDK sends
the same bytes again), so a test can fail exactly the Nth write however often it is retried
(with ``retries_too=False`` only its first attempt: a passing hiccup).
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from local_stack.azurite import DEVSTORE_ACCOUNT, DEVSTORE_KEY

SERVER_BUSY = (
    b'{"odata.error":{"code":"ServerBusy","message":{"lang":"en-US",'
    b'"value":"The server is busy. (injected by the fault campaign)"}}}'
)
WRITE_METHODS = frozenset({"POST", "PUT", "MERGE", "PATCH", "DELETE"})


@dataclass(frozen=True)
class ProxyRequest:
    method: str
    path: str
    body: bytes


@dataclass
class Rule:
    when: Callable[[ProxyRequest], bool]
    action: str = "fail"  # fail | lose_answer | drop
    operations: int | None = 1
    after: int = 0  # let this many matching requests through first
    retry_after_s: float = 0.05  # on a 503: keeps the SDK's retries fast
    retries_too: bool = True  # strike the SDK's retries of a struck request too (False: a passing hiccup)
    hits: int = 0  # requests struck, retries included
    resent: int = 0  # retries of a struck request let through (retries_too=False)
    seen: int = 0
    struck: set[ProxyRequest] = field(default_factory=set)

    def strikes(self, request: ProxyRequest) -> bool:
        if request in self.struck:
            self.resent += not self.retries_too
            return self.retries_too
        if (self.operations is not None and len(self.struck) >= self.operations) or not self.when(request):
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        self.struck.add(request)
        return True

    def __post_init__(self) -> None:
        if self.action not in ("fail", "lose_answer", "drop"):
            raise ValueError(f"unknown action {self.action!r}")


def table_write(table_suffix: str, *, containing: str = "") -> Callable[[ProxyRequest], bool]:
    """Writes to the table whose name ends with `table_suffix` (alone or in a batch), whose body
    matches the regular expression `containing`."""
    pattern = re.compile(containing.encode()) if containing else None
    name = re.compile(rf"/[a-z0-9]*{re.escape(table_suffix)}(\(|\b)".encode())

    def match(request: ProxyRequest) -> bool:
        if request.method not in WRITE_METHODS:
            return False
        if not (name.search(request.path.encode()) or name.search(request.body)):
            return False
        return pattern is None or pattern.search(request.body) is not None

    return match


def machine_rows(
    action_result: str, subscription: str = "", chunk: int | None = None
) -> Callable[[ProxyRequest], bool]:
    """Writes of machine rows with this action result (in `subscription`, in enabling `chunk`, when given)."""
    wanted = [rf'"action_result":\s*"{action_result}"']
    wanted += [re.escape(subscription)] if subscription else []
    wanted += [rf'"enable_chunk":\s*{chunk}\b'] if chunk is not None else []
    tests = [table_write("machines", containing=pattern) for pattern in wanted]
    return lambda request: all(test(request) for test in tests)


def anything(request: ProxyRequest) -> bool:
    return True


@dataclass
class StorageProxy:
    upstream_port: int
    rules: list[Rule] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, what happened)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True

    def __enter__(self) -> StorageProxy:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="storage-proxy", daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()  # serve_forever returns
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEVSTORE_ACCOUNT};AccountKey={DEVSTORE_KEY};"
            f"TableEndpoint=http://127.0.0.1:{self.port}/{DEVSTORE_ACCOUNT};"
        )

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def down(self) -> Rule:
        """Storage unreachable until the rule is removed."""
        return self.add(Rule(anything, action="drop", operations=None))

    def remove(self, rule: Rule) -> None:
        with self._lock:
            self.rules.remove(rule)

    def rule_for(self, request: ProxyRequest) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.strikes(request):
                    rule.hits += 1
                    return rule
        return None

    def note(self, request: ProxyRequest, what: str) -> None:
        with self._lock:
            self.requests.append((request.method, request.path, what))


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up on a dropped request is what these tests do: nothing to print."""


def _handler_for(proxy: StorageProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = ProxyRequest(self.command, self.path, self.rfile.read(length) if length else b"")
            rule = proxy.rule_for(request)
            action = rule.action if rule is not None else "forward"
            proxy.note(request, action)
            if action == "drop":
                self.close_connection = True
                return
            if action == "fail":
                self._answer(
                    503,
                    {
                        "Content-Type": "application/json;odata=minimalmetadata",
                        "x-ms-error-code": "ServerBusy",
                        "Retry-After": f"{rule.retry_after_s:g}",
                    },
                    SERVER_BUSY,
                )
                return
            try:
                status, headers, body = self._forward(request)
            except OSError:  # Azurite itself is down (a restart): the client sees the connection close
                proxy.note(request, "upstream down")
                self.close_connection = True
                return
            if action == "lose_answer":
                self.close_connection = True
                return
            self._answer(status, headers, body)

        def _forward(self, request: ProxyRequest) -> tuple[int, dict[str, str], bytes]:
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                upstream.request(request.method, request.path, body=request.body or None, headers=headers)
                response = upstream.getresponse()
                body = response.read()
                return (
                    response.status,
                    {
                        k: v
                        for k, v in response.getheaders()
                        if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length")
                    },
                    body,
                )
            finally:
                upstream.close()

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_MERGE = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
