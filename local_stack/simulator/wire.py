"""Requests, responses and ARM's error envelope, independent of the HTTP server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str  # decoded path, as sent
    segments: list[str]  # decoded path segments, original case
    query: dict[str, str]  # first value of each parameter, keys lowercased
    headers: dict[str, str]  # keys lowercased
    body: bytes = b""
    caller: str = ""  # the bearer token: quotas are per caller

    @property
    def lower(self) -> list[str]:
        return [s.lower() for s in self.segments]

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    def json_body(self) -> Any:
        """The parsed JSON body, or None when empty; malformed JSON is a 400."""
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ArmError(
                400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: '{exc}'."
            ) from None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error_code(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code", ""))
        return ""


class ArmError(Exception):
    """Any ARM failure: rendered as ``{"error": {"code", "message"[, "details"]}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = details

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return Response(self.status, {"error": error}, dict(self.headers))


def require_api_version(request: Request, supported: tuple[str, ...], *, code: str, what: str) -> str:
    version = request.api_version
    if not version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    for known in supported:
        if version.lower() == known.lower():
            return known
    if code == "NoRegisteredProviderFound":
        message = (
            f"No registered resource provider found for location 'global' and API version '{version}' "
            f"for type '{what}'. The supported api-versions are '{', '.join(supported)}'."
        )
    else:
        message = f"The api-version '{version}' is invalid. The supported versions are '{','.join(supported)}'."
    raise ArmError(400, code, message)
