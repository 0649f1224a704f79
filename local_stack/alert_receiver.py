"""A stand-in for the Logic App's HTTP trigger, on loopback, for tests and the demo.

It answers like a Logic App callback: 202 for an accepted alert, 401 for a wrong `sig`, 400
for a body that is not JSON or (when given the schema) does not match it. It can be told to
fail the next requests (500, or 429 with Retry-After) or to answer slowly, and it keeps
every accepted payload in `payloads`. Its URL carries a fake `?sig=` like a real callback
URL, so tests can check the signature never leaks.

Run `python -m local_stack.alert_receiver` to print alerts as they arrive, with
LOGIC_APP_WEBHOOK_URL set to the URL it shows.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "alert-payload.v1.schema.json"
TRIGGER_PATH = "/workflows/arc-sweeper-alerts/triggers/manual/paths/invoke"
FAKE_SIGNATURE = "fAkEsIgNaTuRe0123456789-LocalOnly_NotASecret"


def load_alert_schema() -> dict[str, Any]:
    """The committed alert schema, the same file the Logic App trigger is deployed with."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


class AlertReceiver:
    """Loopback HTTP server on an ephemeral port; use as a context manager.

    `schema`: validate bodies against it and answer 400 when they do not match.
    """

    def __init__(self, *, schema: dict[str, Any] | None = None, signature: str = FAKE_SIGNATURE) -> None:
        self.signature = signature
        self.payloads: list[dict[str, Any]] = []
        self.rejections: list[str] = []  # why bodies were refused (400)
        self.requests_seen = 0
        self._validator = jsonschema.Draft7Validator(schema) if schema is not None else None
        self._lock = threading.Lock()
        self._failures: list[tuple[int, float | None]] = []
        self._delay_s = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="alert-receiver",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """The callback URL, with a query like a Logic App's (api-version, sp, sv, sig)."""
        port = self._server.server_address[1]
        return (
            f"http://127.0.0.1:{port}{TRIGGER_PATH}?api-version=2016-10-01"
            f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.signature}"
        )

    def fail_next(self, count: int, *, status: int = 500, retry_after_s: float | None = None) -> None:
        """Answer the next `count` requests with `status` (and Retry-After when given)."""
        with self._lock:
            self._failures.extend([(status, retry_after_s)] * count)

    def respond_after(self, seconds: float) -> None:
        """Wait this long before answering each request (to exercise client timeouts)."""
        self._delay_s = seconds

    def start(self) -> AlertReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AlertReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _answer(self, path: str, body: bytes) -> tuple[int, dict[str, str], dict[str, Any] | None]:
        """(status, headers, JSON body) for one POST; records what it accepts."""
        with self._lock:
            self.requests_seen += 1
            failure = self._failures.pop(0) if self._failures else None
        if self._delay_s:
            time.sleep(self._delay_s)
        if failure is not None:
            status, retry_after = failure
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            return (
                status,
                headers,
                _error(
                    "ServiceUnavailable" if status >= 500 else "TooManyRequests",
                    "Failure injected by the test receiver.",
                ),
            )
        parts = urlsplit(path)
        if parts.path != TRIGGER_PATH:
            return 404, {}, _error("NotFound", "No trigger at this path.")
        if parse_qs(parts.query).get("sig") != [self.signature]:
            return 401, {}, _error("DirectApiInvalidAuthorizationSignature", "The signature is not valid.")
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return 400, {}, _error("InvalidRequestContent", "The body is not UTF-8 JSON.")
        if self._validator is not None:
            problems = sorted(self._validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
            if problems:
                reason = "; ".join(f"/{'/'.join(map(str, p.absolute_path))}: {p.message[:200]}" for p in problems[:5])
                with self._lock:
                    self.rejections.append(reason)
                return 400, {}, _error("TriggerInputSchemaMismatch", reason)
        with self._lock:
            self.payloads.append(payload)
        return 202, {}, None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _handler_for(receiver: AlertReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, headers, body = receiver._answer(self.path, self.rfile.read(length))
            data = json.dumps(body).encode("utf-8") if body is not None else b""
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the default access log would print the request line, `sig` included."""

    return Handler


def main() -> None:
    """Print every alert received (and every schema rejection) until Ctrl+C."""
    with AlertReceiver(schema=load_alert_schema()) as receiver:
        print(f"Alert receiver listening. Set LOGIC_APP_WEBHOOK_URL to:\n  {receiver.url}\n", flush=True)
        shown_payloads = shown_rejections = 0
        try:
            while True:
                time.sleep(0.5)
                for payload in receiver.payloads[shown_payloads:]:
                    print(json.dumps(payload, indent=2, ensure_ascii=False), flush=True)
                    shown_payloads += 1
                for reason in receiver.rejections[shown_rejections:]:
                    print(f"rejected, does not match the schema: {reason}", flush=True)
                    shown_rejections += 1
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
