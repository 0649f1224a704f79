"""Delivering alerts to a loopback stand-in for the Logic App trigger.

Every test also checks the callback URL's signature never shows: not in the log (DEBUG,
all loggers, urllib3 included), not in the DeliveryResult, and no exception escapes.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import time

import pytest
import requests
from alert_factories import attention, report

from arc_sweeper.http_pipeline import DeadlineTransport, HttpLimits
from arc_sweeper.logic_app import deliver_alert, scrub
from arc_sweeper.ports import DeliveryResult
from arc_sweeper.reporting.alerts import build_alert
from arc_sweeper.serialization import to_json
from arc_sweeper.text import redact_url
from arc_sweeper.vocabulary import AlertKind, AttentionKind
from local_stack.alert_receiver import FAKE_SIGNATURE, TRIGGER_PATH, AlertReceiver, load_alert_schema

FAST = HttpLimits(
    retries=2, backoff_s=0.01, backoff_max_s=0.05, max_retry_after_s=1.0, deadline_s=5.0, read_timeout_s=2.0
)


@pytest.fixture
def payload():
    run = report(attention=(attention(AttentionKind.ENABLE_FAILED, "srv-東京", code="Conflict", message="busy"),))
    return build_alert(
        AlertKind.SWEEP_COMPLETED, run, generated_at="2026-07-01T03:41:13Z", app_url="https://func.example"
    )


@pytest.fixture
def receiver():
    with AlertReceiver(schema=load_alert_schema()) as running:
        yield running


@pytest.fixture(autouse=True)
def signature_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    for record in records:
        assert FAKE_SIGNATURE not in record.getMessage(), f"{record.name} logged the signature"


class RecordingTransport(DeadlineTransport):
    """The real transport, remembering how long the retry policy made it wait."""

    def __init__(self, limits: HttpLimits = FAST, session: requests.Session | None = None) -> None:
        super().__init__(limits, session)
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def assert_no_secret(result: DeliveryResult) -> None:
    assert FAKE_SIGNATURE not in repr(result)
    assert FAKE_SIGNATURE not in json.dumps(to_json(result))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_delivers_the_payload_as_sent(receiver, payload):
    result = deliver_alert(receiver.url, payload, limits=FAST)
    assert result == DeliveryResult(True, "delivered", 202, 1, result.detail)
    assert receiver.payloads == [payload]
    assert receiver.payloads[0]["attention"]["items"][0]["name"] == "srv-東京"
    assert_no_secret(result)


def test_urllib3_request_lines_are_logged_without_their_query(receiver, payload, caplog):
    deliver_alert(receiver.url, payload, limits=FAST)
    request_lines = [
        r.getMessage()
        for r in caplog.get_records("call")
        if r.name == "urllib3.connectionpool" and TRIGGER_PATH in r.getMessage()
    ]
    assert request_lines and all("?(redacted)" in line for line in request_lines)


def test_waits_as_told_by_retry_after_then_delivers(receiver, payload):
    receiver.fail_next(2, status=429, retry_after_s=0.2)
    transport = RecordingTransport()
    result = deliver_alert(receiver.url, payload, limits=FAST, transport=transport)
    assert (result.delivered, result.attempts, result.http_status) == (True, 3, 202)
    assert transport.waits == [0.2, 0.2]
    assert receiver.payloads == [payload]
    assert_no_secret(result)


def test_gives_up_after_the_policys_attempts_on_server_errors(receiver, payload):
    receiver.fail_next(10, status=500)
    started = time.monotonic()
    result = deliver_alert(receiver.url, payload, limits=FAST, transport=RecordingTransport())
    assert time.monotonic() - started < 2
    assert (result.delivered, result.status, result.http_status, result.attempts) == (False, "failed", 500, 3)
    assert receiver.requests_seen == 3 and receiver.payloads == []
    assert "HTTP 500" in result.detail and "ServiceUnavailable" in result.detail
    assert_no_secret(result)


def test_total_time_is_bounded_even_when_told_to_wait(receiver, payload):
    receiver.fail_next(10, status=429, retry_after_s=0.4)
    limits = HttpLimits(retries=9, backoff_s=0.01, max_retry_after_s=1.0, deadline_s=0.6, read_timeout_s=1.0)
    started = time.monotonic()
    result = deliver_alert(receiver.url, payload, limits=limits)
    assert time.monotonic() - started < 1.5
    assert (result.delivered, result.http_status) == (False, 429)
    assert result.attempts == receiver.requests_seen == 2
    assert_no_secret(result)


def test_connection_refused_is_a_failed_delivery(payload):
    url = f"http://127.0.0.1:{closed_port()}/workflows/x/triggers/manual/paths/invoke?sv=1.0&sig={FAKE_SIGNATURE}"
    result = deliver_alert(url, payload, limits=FAST, transport=RecordingTransport())
    assert (result.delivered, result.status, result.http_status, result.attempts) == (False, "failed", None, 3)
    assert "no response" in result.detail
    assert_no_secret(result)


def test_a_slow_endpoint_times_out(receiver, payload):
    receiver.respond_after(1.0)
    limits = HttpLimits(retries=1, backoff_s=0.01, backoff_max_s=0.01, read_timeout_s=0.2)
    started = time.monotonic()
    result = deliver_alert(receiver.url, payload, limits=limits)
    assert time.monotonic() - started < 1.0
    assert (result.delivered, result.http_status, result.attempts) == (False, None, 2)
    assert_no_secret(result)


def test_a_client_error_is_not_retried(receiver, payload):
    wrong_signature = receiver.url.replace(FAKE_SIGNATURE, FAKE_SIGNATURE[::-1])
    result = deliver_alert(wrong_signature, payload, limits=FAST)
    assert (result.delivered, result.http_status, result.attempts) == (False, 401, 1)
    assert "DirectApiInvalidAuthorizationSignature" in result.detail
    assert FAKE_SIGNATURE[::-1] not in result.detail


def test_a_payload_the_trigger_schema_refuses_is_a_failed_delivery(receiver, payload):
    result = deliver_alert(receiver.url, {**payload, "severity": "catastrophic"}, limits=FAST)
    assert (result.delivered, result.http_status, result.attempts) == (False, 400, 1)
    assert receiver.rejections and "severity" in receiver.rejections[0]


@pytest.mark.parametrize("url", ["", "   "])
def test_no_url_means_skipped(url, payload):
    result = deliver_alert(url, payload)
    assert result == DeliveryResult(False, "skipped_no_url", None, 0, result.detail)
    assert "LOGIC_APP_WEBHOOK_URL" in result.detail


@pytest.mark.parametrize(
    "url",
    [
        f"not a url?sig={FAKE_SIGNATURE}",
        f"ftp://example.invalid/x?sig={FAKE_SIGNATURE}",
        f"http://[::1/x?sig={FAKE_SIGNATURE}",
        f"http://127.0.0.1:99999/x?sig={FAKE_SIGNATURE}",
        f"https://user:{FAKE_SIGNATURE}@127.0.0.1:1/x",
    ],
)
def test_malformed_urls_fail_quietly(url, payload):
    result = deliver_alert(url, payload, limits=FAST, transport=RecordingTransport())
    assert (result.delivered, result.status) == (False, "failed")
    assert_no_secret(result)


class ExplodingSession(requests.Session):
    """Raises what requests raises, with the full URL in the message as requests does."""

    def __init__(self, error: type[requests.RequestException]) -> None:
        super().__init__()
        self.error = error

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        raise self.error(f"{method} {url} went wrong")


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectionError,
        requests.TooManyRedirects,
        requests.exceptions.SSLError,
        requests.exceptions.ChunkedEncodingError,
    ],
)
def test_request_exceptions_are_described_without_the_url(error, payload):
    url = f"https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig={FAKE_SIGNATURE}"
    transport = RecordingTransport(FAST, session=ExplodingSession(error))
    result = deliver_alert(url, payload, limits=FAST, transport=transport)
    assert (result.delivered, result.status, result.http_status) == (False, "failed", None)
    assert "prod-00.westeurope.logic.azure.com" in result.detail
    assert_no_secret(result)


class EchoingSession(requests.Session):
    """Answers 400 with a message that repeats the URL it was sent to, as a careless proxy might."""

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        response = requests.Response()
        response.status_code = 400
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps({"error": {"code": "BadRequest", "message": f"cannot {method} {url}"}}).encode()
        response.raw = io.BytesIO(response._content)
        return response


def test_an_error_message_repeating_the_url_is_scrubbed(payload):
    url = f"https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sv=1.0&sig={FAKE_SIGNATURE}"
    result = deliver_alert(url, payload, limits=FAST, transport=RecordingTransport(FAST, session=EchoingSession()))
    assert (result.delivered, result.http_status, result.attempts) == (False, 400, 1)
    assert "BadRequest" in result.detail and "/workflows/abc/triggers/manual" in result.detail
    assert_no_secret(result)


def test_a_payload_that_is_not_json_is_a_failed_delivery(receiver):
    result = deliver_alert(receiver.url, {"when": object()}, limits=FAST)
    assert (result.delivered, result.attempts) == (False, 0)
    assert receiver.requests_seen == 0


def test_redact_url_and_scrub_keep_only_what_is_safe():
    url = f"https://u:pw-secret-1@host.example:8443/workflows/w?api-version=2016-10-01&sig={FAKE_SIGNATURE}"
    assert redact_url(url) == "https://host.example:8443"
    text = scrub(f"failed: {url} (sig={FAKE_SIGNATURE}, user u:pw-secret-1)", url)
    assert FAKE_SIGNATURE not in text and "pw-secret-1" not in text
