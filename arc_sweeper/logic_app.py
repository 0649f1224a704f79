"""Deliver an alert to the Logic App's "When a HTTP request is received" trigger.

Entry point: :func:`deliver_alert`. The run's results are already in Table Storage when an
alert is sent, so delivery never raises: every problem becomes a DeliveryResult the caller
records on the run row. The callback URL carries a SAS signature (`sig=`) in its query
string; neither the query string nor any of its values appear in logs, results or details.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from azure.core import PipelineClient
from azure.core.exceptions import AzureError
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.core.rest import HttpRequest, HttpResponse

from arc_sweeper.http_pipeline import DeadlineTransport, HttpLimits, arm_error, policies
from arc_sweeper.ports import DeliveryResult
from arc_sweeper.reporting.alerts import encode_alert
from arc_sweeper.text import redact_url
from arc_sweeper.vocabulary import DeliveryStatus

log = logging.getLogger(__name__)

ALERT_LIMITS = HttpLimits(
    retries=4,
    backoff_s=2.0,
    backoff_max_s=30.0,
    max_retry_after_s=60.0,
    connect_timeout_s=10.0,
    read_timeout_s=15.0,
    deadline_s=120.0,
)
"""About two minutes at most: an alert is not worth more, and the run's results are already stored."""
_USER_INFO = re.compile(r"[^:/?#]*://[^/?#]*@")
_SHORTEST_SECRET = 8
"""Query values this long or longer are scrubbed one by one (sig is 43); `sv=1.0` is left readable."""


@dataclass(frozen=True)
class LogicAppWebhook:
    """The AlertSender of the product: the Logic App's HTTP trigger at LOGIC_APP_WEBHOOK_URL."""

    url: str = field(repr=False)

    def deliver(self, payload: dict[str, Any]) -> DeliveryResult:
        return deliver_alert(self.url, payload)


class _CountAttempts(SansIOHTTPPolicy[HttpRequest, HttpResponse]):
    """Counts the requests one delivery sends (the retry policy sits before it)."""

    def __init__(self) -> None:
        self.attempts = 0

    def on_request(self, request: Any) -> None:
        self.attempts += 1


def deliver_alert(
    webhook_url: str,
    payload: dict[str, Any],
    *,
    limits: HttpLimits = ALERT_LIMITS,
    transport: DeadlineTransport | None = None,
) -> DeliveryResult:
    """POST the payload as JSON, retrying transient failures; never raises for delivery problems.

    A blank URL means alerts are off: nothing is sent and the result says so. Success is any
    2xx (Logic Apps answers 202 Accepted, or 200 when the workflow has a Response action).
    """
    if not webhook_url.strip():
        return DeliveryResult(
            False, DeliveryStatus.SKIPPED_NO_URL, None, 0, "LOGIC_APP_WEBHOOK_URL is blank: alert not sent"
        )
    target = redact_url(webhook_url)
    if _USER_INFO.match(webhook_url):
        return _failed(
            None, 0, f"alert not sent to {target}: a user name or password in the URL is not supported", webhook_url
        )
    try:
        body = encode_alert(payload)
    except (TypeError, ValueError) as error:
        return _failed(None, 0, f"alert payload is not JSON-serializable: {type(error).__name__}", webhook_url)
    counter = _CountAttempts()
    try:
        client: PipelineClient[HttpRequest, HttpResponse] = PipelineClient(
            target, policies=[*policies(limits), counter], transport=transport or DeadlineTransport(limits)
        )
        with client:
            response = client.send_request(
                HttpRequest(
                    "POST", webhook_url, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
                )
            )
    except AzureError as error:
        return _failed(None, counter.attempts, f"no response from {target}: {type(error).__name__}", webhook_url)
    except ValueError as error:  # a URL requests cannot send to (bad port, no host)
        return _failed(None, counter.attempts, f"request to {target} failed: {type(error).__name__}", webhook_url)
    if 200 <= response.status_code < 300:
        log.info("alert delivered to %s: HTTP %d after %d attempt(s)", target, response.status_code, counter.attempts)
        return DeliveryResult(
            True,
            DeliveryStatus.DELIVERED,
            response.status_code,
            counter.attempts,
            f"HTTP {response.status_code} from {target}",
        )
    code, message = arm_error(response)
    return _failed(
        response.status_code,
        counter.attempts,
        f"HTTP {response.status_code} from {target}: {code}: {message[:300]}",
        webhook_url,
    )


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
