"""One retry policy for every HTTP call the product makes with `requests`.

Modelled on azure-core's RetryPolicy: retry what is transient (408, 429, 5xx, connection
errors, timeouts), honour `Retry-After` when the server sends it, back off exponentially
otherwise, and give up after a bounded number of attempts and a bounded total time so a
sick endpoint cannot hold an activity hostage. Client errors (400, 401, 403, 404, 409
without Retry-After, ...) are returned at once: retrying them blindly changes nothing.
"""
from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

import requests

from arc_sweeper.text import redact_url

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_base_s: float = 0.8
    backoff_max_s: float = 60.0
    max_retry_after_s: float = 120.0
    total_timeout_s: float = 300.0
    request_timeout_s: float = 30.0


class RetriesExhausted(Exception):
    """Transient failures persisted past the policy's limits (no usable response)."""


def retry_after_seconds(response: requests.Response) -> float | None:
    """Seconds the server asked us to wait, from `retry-after-ms` or `Retry-After`."""
    for header in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = response.headers.get(header)
        if value:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                pass
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _is_retryable(response: requests.Response) -> bool:
    if response.status_code in RETRYABLE_STATUSES:
        return True
    # ARM: some RPs answer 409 RetryableErrorDueToAnotherOperation with a Retry-After.
    return response.status_code == 409 and "Retry-After" in response.headers


def send_with_retry(
    session: requests.Session,
    method: str,
    url: str,
    *,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    **kwargs: Any,
) -> requests.Response:
    """Send a request, retrying transient failures; return the final response.

    The final response may be an error (a 403, or a 503 after the last attempt): callers
    decide what it means. Raises RetriesExhausted only when no response was ever received.
    """
    deadline = monotonic() + policy.total_timeout_s
    last_error: Exception | None = None
    for attempt in range(1, policy.max_attempts + 1):
        response: requests.Response | None = None
        try:
            response = session.request(method, url, timeout=policy.request_timeout_s, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as error:
            last_error = error
        if response is not None and not _is_retryable(response):
            return response
        if attempt == policy.max_attempts:
            break
        wait = retry_after_seconds(response) if response is not None else None
        if wait is None:
            wait = min(policy.backoff_max_s, policy.backoff_base_s * 2 ** (attempt - 1))
            wait *= random.uniform(0.8, 1.2)
        wait = min(wait, policy.max_retry_after_s)
        if monotonic() + wait > deadline:
            break
        log.info(
            "%s %s: %s, retrying in %.1fs (attempt %d of %d)",
            method, redact_url(url),
            response.status_code if response is not None else type(last_error).__name__,
            wait, attempt, policy.max_attempts,
        )
        sleep(wait)
    if response is not None:
        return response
    raise RetriesExhausted(
        f"{method} {redact_url(url)} failed after retries: {type(last_error).__name__}"
    )


def arm_error(response: requests.Response) -> tuple[str, str]:
    """(code, message) from an ARM error body, tolerating bodies that are not ARM-shaped."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or f"Http{response.status_code}"), str(error.get("message") or "")
    return f"Http{response.status_code}", (response.text or "")[:500]
