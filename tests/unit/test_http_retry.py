"""The shared retry policy, against a real HTTP server on loopback."""
from __future__ import annotations

import pytest
import requests

from arc_sweeper.http_retry import RetriesExhausted, RetryPolicy, arm_error, send_with_retry
from arc_sweeper.text import redact_url
from tests.loopback import loopback_server


class Script:
    """Answers requests from a list of (status, headers, body); the last one repeats."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = 0

    def next(self):
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@pytest.fixture
def server():
    script = Script([(200, {}, b"{}")])
    with loopback_server(lambda method, path, headers: script.next()) as url:
        yield script, url


def run(url, policy=RetryPolicy(max_attempts=4, backoff_base_s=0.01), **kwargs):
    sleeps = []
    response = send_with_retry(requests.Session(), "PATCH", url, policy=policy, sleep=sleeps.append, **kwargs)
    return response, sleeps


def test_429_waits_for_retry_after_then_succeeds(server):
    script, url = server
    script.answers = [(429, {"Retry-After": "7"}, b""), (200, {}, b"{}")]
    response, sleeps = run(url)
    assert response.status_code == 200 and sleeps == [7.0] and script.calls == 2


def test_5xx_backs_off_exponentially_and_returns_the_last_answer(server):
    script, url = server
    script.answers = [(503, {}, b'{"error":{"code":"ServiceUnavailable","message":"busy"}}')]
    response, sleeps = run(url)
    assert response.status_code == 503 and script.calls == 4 and len(sleeps) == 3
    assert sleeps[0] < sleeps[1] < sleeps[2]
    assert arm_error(response) == ("ServiceUnavailable", "busy")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_are_not_retried(server, status):
    script, url = server
    script.answers = [(status, {}, b'{"error":{"code":"X","message":"no"}}')]
    response, sleeps = run(url)
    assert response.status_code == status and script.calls == 1 and sleeps == []


def test_409_with_retry_after_is_retried(server):
    script, url = server
    script.answers = [(409, {"Retry-After": "1"}, b""), (200, {}, b"{}")]
    response, _ = run(url)
    assert response.status_code == 200 and script.calls == 2


def test_total_time_is_bounded(server):
    script, url = server
    script.answers = [(429, {"Retry-After": "100"}, b"")]
    response, sleeps = run(url, RetryPolicy(max_attempts=10, total_timeout_s=50))
    assert response.status_code == 429 and sleeps == [] and script.calls == 1


def test_connection_refused_raises_without_the_query_string():
    with pytest.raises(RetriesExhausted) as error:
        run("http://127.0.0.1:9/hook?sig=SECRETSIG", RetryPolicy(max_attempts=2, backoff_base_s=0.01))
    assert "SECRETSIG" not in str(error.value)


def test_redact_url_keeps_only_scheme_host_and_port():
    assert redact_url("https://x.logic.azure.com/workflows/1/triggers?api-version=1&sig=abc") == "https://x.logic.azure.com"
    assert redact_url("https://user:pw@x.example:8443/p#f") == "https://x.example:8443"
    assert redact_url("not a url") == "(unparsable URL)"


def test_non_arm_error_bodies():
    response = requests.Response()
    response.status_code, response._content = 502, b"<html>bad gateway</html>"
    assert arm_error(response) == ("Http502", "<html>bad gateway</html>")
