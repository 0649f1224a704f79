"""Deliver an alert to the Logic App's "When a HTTP request is received" trigger.

Entry point: :func:`deliver_alert`. The run's results are already in Table Storage when an
alert is sent, so delivery never raises: every problem becomes a DeliveryResult the caller
records on the run row. The callback URL carries a SAS signature (`sig=`) in its query
string; neither the query string nor any of its values appear in logs, results or details.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import requests

from arc_sweeper.http_retry import RetriesExhausted, RetryPolicy, arm_error, send_with_retry
from arc_sweeper.ports import DeliveryResult
from arc_sweeper.reporting.alerts import encode_alert
from arc_sweeper.text import redact_url
from arc_sweeper.vocabulary import DeliveryStatus

log = logging.getLogger(__name__)

ALERT_RETRY_POLICY = RetryPolicy(
    max_attempts=5,
    backoff_base_s=2.0,
    backoff_max_s=30.0,
    max_retry_after_s=60.0,
    total_timeout_s=120.0,
    request_timeout_s=15.0,
)
"""About two minutes at most (total_timeout_s plus one request_timeout_s): an alert is not worth more."""
_USER_INFO = re.compile(r"[^:/?#]*://[^/?#]*@")
_SHORTEST_SECRET = 8
"""Query values this long or longer are scrubbed one by one (sig is 43); `sv=1.0` is left readable."""


@dataclass(frozen=True)
class LogicAppWebhook:
    """The AlertSender of the product: the Logic App's HTTP trigger at LOGIC_APP_WEBHOOK_URL."""

    url: str = field(repr=False)

    def deliver(self, payload: dict[str, Any]) -> DeliveryResult:
        return deliver_alert(self.url, payload)


def deliver_alert(
    webhook_url: str,
    payload: dict[str, Any],
    *,
    policy: RetryPolicy = ALERT_RETRY_POLICY,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryResult:
    """POST the payload as JSON, retrying transient failures; never raises for delivery problems.

    A blank URL means alerts are off: nothing is sent and the result says so. Success is any
    2xx (Logic Apps answers 202 Accepted, or 200 when the workflow has a Response action).
    """
    if not webhook_url.strip():
        return DeliveryResult(False, DeliveryStatus.SKIPPED_NO_URL, None, 0,
                              "LOGIC_APP_WEBHOOK_URL is blank: alert not sent")
    _hide_query_strings_in_urllib3_logs()
    target = redact_url(webhook_url)
    if _USER_INFO.match(webhook_url):  # the retry loop's log line would show it
        return _failed(None, 0, f"alert not sent to {target}: a user name or password in the URL is not supported",
                       webhook_url)
    sleeps = 0

    def counting_sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        sleep(seconds)

    try:
        body = encode_alert(payload)
    except (TypeError, ValueError) as error:
        return _failed(None, 0, f"alert payload is not JSON-serializable: {type(error).__name__}", webhook_url)
    own_session = session is None
    http = session if session is not None else requests.Session()
    try:
        response = send_with_retry(
            http, "POST", webhook_url, policy=policy, sleep=counting_sleep, data=body,
            headers={"Content-Type": "application/json; charset=utf-8"}, allow_redirects=False,
        )
    except RetriesExhausted:
        return _failed(None, sleeps + 1, f"no response from {target}: connection failed or timed out", webhook_url)
    except (requests.RequestException, ValueError) as error:  # malformed URL, TLS, redirects, ...
        return _failed(None, sleeps + 1, f"request to {target} failed: {type(error).__name__}", webhook_url)
    finally:
        if own_session:
            http.close()
    attempts = sleeps + 1
    if 200 <= response.status_code < 300:
        log.info("alert delivered to %s: HTTP %d after %d attempt(s)", target, response.status_code, attempts)
        return DeliveryResult(True, DeliveryStatus.DELIVERED, response.status_code, attempts,
                              f"HTTP {response.status_code} from {target}")
    code, message = arm_error(response)
    return _failed(response.status_code, attempts,
                   f"HTTP {response.status_code} from {target}: {code}: {message[:300]}", webhook_url)


def scrub(text: str, url: str) -> str:
    """Remove the URL's query string, its longer values (raw and decoded) and any user info from `text`.

    Works on the raw string, so even a URL that does not parse cannot leak through a message.
    """
    query = url.partition("?")[2].partition("#")[0]
    user_info = re.findall(r"//([^/?#@]*)@", url)
    values = [value for pair in query.split("&") for value in pair.split("=")[1:]]
    values += [value for _, value in parse_qsl(query, keep_blank_values=True)]
    secrets = {query, *user_info, *(value for value in values if len(value) >= _SHORTEST_SECRET)}
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _failed(http_status: int | None, attempts: int, detail: str, url: str) -> DeliveryResult:
    detail = scrub(detail, url)
    log.warning("alert not delivered: %s (%d attempt(s))", detail, attempts)
    return DeliveryResult(False, DeliveryStatus.FAILED, http_status, attempts, detail)


class _QueryStringRedactor(logging.Filter):
    """urllib3 logs request lines, query string included, at DEBUG: drop the query before it is written."""

    _QUERY = re.compile(r"\?[^\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = self._QUERY.sub("?(redacted)", message), ()
        return True


_URLLIB3_REDACTOR = _QueryStringRedactor()


def _hide_query_strings_in_urllib3_logs() -> None:
    connection_pool_log = logging.getLogger("urllib3.connectionpool")
    if _URLLIB3_REDACTOR not in connection_pool_log.filters:
        connection_pool_log.addFilter(_URLLIB3_REDACTOR)
