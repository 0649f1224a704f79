"""One HTTP stack for every outside call: azure-core pipelines over `requests`.

ARM, Resource Graph and the Logic App webhook all send through the policies built here:
a bearer-token policy with caching (none for the webhook), :class:`BoundedRetryPolicy`,
our budgets (arc_sweeper.throttling), azure-core's logging with its redaction of headers
and query strings, and :class:`DeadlineTransport`. Every wait and every call is bounded:

- a `Retry-After` longer than `max_retry_after_s` is not waited for: the response is
  returned as it is and the caller records it;
- a call, retries included, never lasts longer than `deadline_s`: the transport shuts the
  socket of a response that is still arriving when the deadline passes (a server that
  trickles a byte at a time defeats per-read timeouts, not this);
- a body larger than `max_body_bytes` is refused.

PATCH here is the merge-patch of one value, safe to repeat, so it is retried like a read;
a 409 that is not a lock (another writer on the same machine, such as a policy
remediation) is retried a bounded number of times with backoff.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import ServiceResponseError, ServiceResponseTimeoutError
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    ContentDecodePolicy,
    HeadersPolicy,
    HttpLoggingPolicy,
    RequestIdPolicy,
    RetryPolicy,
    SansIOHTTPPolicy,
    UserAgentPolicy,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest, HttpResponse

from arc_sweeper.text import redact_url
from arc_sweeper.throttling import ThrottlingPolicy, retry_after_seconds

log = logging.getLogger(__name__)
WIRE_LOG = logging.getLogger("arc_sweeper.http.wire")
"""azure-core's request/response lines (headers and query values redacted); quiet unless set to INFO."""
WIRE_LOG.setLevel(logging.WARNING)
USER_AGENT = "arc-agent-sweeper/0.2"


class _QueryStringRedactor(logging.Filter):
    """urllib3 logs request lines, query string included, at DEBUG: drop the query before it is written."""

    _QUERY = re.compile(r"\?[^\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = self._QUERY.sub("?(redacted)", message), ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_QueryStringRedactor())
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
LOCKED = "ScopeLocked"


@dataclass(frozen=True)
class HttpLimits:
    """How long and how often one call may try; every field bounds a wait."""

    retries: int = 5
    backoff_s: float = 0.8
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 120.0
    conflict_retries: int = 3
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    deadline_s: float = 300.0
    max_body_bytes: int = 32 * 1024 * 1024


class BoundedRetryPolicy(RetryPolicy[HttpRequest, HttpResponse]):
    """azure-core's retry policy with our bounds on Retry-After, conflicts and methods."""

    def __init__(self, limits: HttpLimits) -> None:
        super().__init__(
            retry_total=limits.retries,
            retry_backoff_factor=limits.backoff_s,
            retry_backoff_max=limits.backoff_max_s,
            timeout=limits.deadline_s,
        )
        self._limits = limits
        self._method_whitelist = frozenset({"GET", "HEAD", "PATCH", "POST", "PUT", "DELETE", "OPTIONS"})

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings: dict[str, Any] = super().configure_retries(options)
        settings["deadline"] = time.monotonic() + settings["timeout"]
        return settings

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        """Retry only what is transient, and only if the wait fits both the cap and the call's deadline.

        Otherwise the response is returned as it is, so the caller records what Azure said.
        """
        status = response.http_response.status_code
        if status < 400 or not settings["total"]:
            return False
        wait = retry_after_seconds(response.http_response.headers, time.time())
        if wait is not None and wait > self._limits.max_retry_after_s:
            log.warning(
                "%s answered %d with Retry-After %.0fs, more than %.0fs: not waiting",
                response.http_request.method,
                status,
                wait,
                self._limits.max_retry_after_s,
            )
            return False
        if time.monotonic() + (wait if wait is not None else self._limits.backoff_s) >= settings["deadline"]:
            return False
        if status == 409:
            conflicts = settings.get("conflicts", 0)
            if conflicts >= self._limits.conflict_retries or arm_error(response.http_response)[0] == LOCKED:
                return False
            settings["conflicts"] = conflicts + 1
        elif status not in RETRYABLE_STATUSES:
            return False
        log.info(
            "%s %s answered %d; retrying%s",
            response.http_request.method,
            redact_url(response.http_request.url),
            status,
            f" after {wait:.1f}s" if wait is not None else "",
        )
        return True

    def _is_method_retryable(self, settings: dict[str, Any], request: Any, response: Any = None) -> bool:
        return True  # every request we send is a read or an idempotent merge-patch of one value

    def get_backoff_time(self, settings: dict[str, Any]) -> float:
        """azure-core's exponential backoff with +-20% jitter, so parallel workers do not retry in step."""
        return float(super().get_backoff_time(settings)) * random.uniform(0.8, 1.2)


class _Watch:
    """The socket of the request in flight on this thread, and whether its deadline passed."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.expired = False
        self.lock = threading.Lock()

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            if self.sock is not None:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)


_current = threading.local()


class _WatchedConnectionMixin:
    """Tells this thread's watch which socket the response is read from."""

    sock: socket.socket | None

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            with watch.lock:
                watch.sock = self.sock
                if watch.expired:
                    raise ServiceResponseTimeoutError("the call's deadline passed before the response")
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_WatchedConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def pooled_session(connections: int = 64) -> requests.Session:
    """One session per client, sized for parallel PATCHes, whose sockets a deadline can shut."""
    session = requests.Session()
    adapter = _WatchedAdapter(pool_connections=8, pool_maxsize=connections, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class DeadlineTransport(RequestsTransport):  # type: ignore[misc]  # azure-core exports it lazily (as Any)
    """RequestsTransport whose every exchange, body included, ends by a hard deadline."""

    def __init__(self, limits: HttpLimits, session: requests.Session | None = None) -> None:
        super().__init__(
            session=session or pooled_session(),
            session_owner=session is None,
            connection_timeout=limits.connect_timeout_s,
            read_timeout=limits.read_timeout_s,
        )
        self._limits = limits

    def send(self, request: Any, **kwargs: Any) -> Any:
        watch = _Watch()
        timer = threading.Timer(self._limits.deadline_s, watch.expire)
        timer.daemon = True
        _current.watch = watch
        timer.start()
        try:
            response = super().send(request, **kwargs)
            size = len(response.internal_response.content or b"")
        except Exception:
            if watch.expired:
                raise ServiceResponseTimeoutError(
                    f"no complete response within the {self._limits.deadline_s:.0f}s deadline"
                ) from None
            raise
        finally:
            timer.cancel()
            _current.watch = None
        if watch.expired:
            raise ServiceResponseTimeoutError(
                f"no complete response within the {self._limits.deadline_s:.0f}s deadline"
            )
        if size > self._limits.max_body_bytes:
            raise ServiceResponseError(f"response body of {size} bytes is larger than {self._limits.max_body_bytes}")
        return response


def policies(
    limits: HttpLimits,
    *,
    credential: TokenCredential | None = None,
    scopes: Sequence[str] = (),
    allow_plain_http: bool = False,
) -> list[Any]:
    """The policies of every pipeline: ids and agent, retry, token, budgets, redacted logging."""
    chain: list[Any] = [
        RequestIdPolicy(),
        HeadersPolicy(),
        UserAgentPolicy(base_user_agent=USER_AGENT),
        ContentDecodePolicy(),
        BoundedRetryPolicy(limits),
    ]
    if credential is not None:
        if allow_plain_http:
            chain.append(_AllowPlainHttp())
        chain.append(BearerTokenCredentialPolicy(credential, *scopes))
    chain += [ThrottlingPolicy(), HttpLoggingPolicy(logger=WIRE_LOG)]
    return chain


class _AllowPlainHttp(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """The bearer policy refuses plain http; the fleet simulator on loopback is the one exception."""

    def on_request(self, request: Any) -> None:
        request.context["enforce_https"] = False


def pipeline_client(
    base_url: str,
    limits: HttpLimits,
    *,
    credential: TokenCredential | None = None,
    scopes: Sequence[str] = (),
    allow_plain_http: bool = False,
) -> PipelineClient:  # type: ignore[type-arg]
    return PipelineClient(
        base_url,
        policies=policies(limits, credential=credential, scopes=scopes, allow_plain_http=allow_plain_http),
        transport=DeadlineTransport(limits),
    )


def arm_error(response: Any) -> tuple[str, str]:
    """(code, message) from an ARM error body, tolerating bodies that are not ARM-shaped."""
    try:
        body = json.loads(response.text() or "null")
    except (ValueError, UnicodeDecodeError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or f"Http{response.status_code}"), str(error.get("message") or "")
    return f"Http{response.status_code}", (response.text() or "")[:500]
