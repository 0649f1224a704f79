"""Azure Resource Manager: subscriptions, one machine read, and the one write the product makes.

Entry point: :class:`Arm`. `enable_automatic_upgrade` sends exactly
`{"properties":{"agentUpgrade":{"enableAutomaticUpgrade":true}}}` as a PATCH (ARM merges
it into the machine; nothing else changes) and reports the outcome instead of raising,
so one refused machine never stops the others. Its URL is rebuilt from the parsed id
(arc_sweeper.resource_ids), never concatenated from what Resource Graph returned.
Everything goes through the one HTTP stack (arc_sweeper.http_pipeline).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ClientAuthenticationError, DecodeError, ServiceRequestError
from azure.core.rest import HttpRequest, HttpResponse

from arc_sweeper.credentials import token_scope
from arc_sweeper.endpoints import is_loopback_url, require_safe_endpoint
from arc_sweeper.http_pipeline import HttpLimits, arm_error, pipeline_client
from arc_sweeper.ports import ArmError, PatchOutcome, Subscription
from arc_sweeper.resource_ids import parse_extension_id, parse_machine_id
from arc_sweeper.text import clip
from arc_sweeper.throttling import BudgetExhausted, Gate

log = logging.getLogger(__name__)

SUBSCRIPTIONS_API_VERSION = "2022-12-01"
ENABLE_AUTOMATIC_UPGRADE_BODY = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}
ENABLE_EXTENSION_UPGRADE_BODY = {"properties": {"enableAutomaticUpgrade": True}}
MAX_SUBSCRIPTION_PAGES = 1000
"""The subscription list is paged by ARM; a tenant with more pages than this is not believed."""


class Arm:
    def __init__(
        self,
        endpoint: str,
        credential: TokenCredential,
        *,
        hybridcompute_api_version: str,
        limits: HttpLimits = HttpLimits(),
    ) -> None:
        require_safe_endpoint(endpoint, "ARM_ENDPOINT")
        self._endpoint = endpoint.rstrip("/")
        self._api_version = hybridcompute_api_version
        self._client = pipeline_client(
            self._endpoint,
            limits,
            credential=credential,
            scopes=[token_scope(endpoint)],
            allow_plain_http=is_loopback_url(endpoint),
        )

    def _send(self, method: str, url: str, *, body: Any = None, gate: Gate | None = None) -> HttpResponse:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = HttpRequest(method, url, headers=headers, content=json.dumps(body) if body is not None else None)
        response: HttpResponse = self._client.send_request(request, throttle_gate=gate)
        return response

    def _read_json(self, url: str) -> dict[str, Any]:
        """A GET that must answer 200 with a JSON object; anything else is an ArmError."""
        try:
            response = self._send("GET", url)
        except DecodeError:  # the pipeline decodes JSON bodies as they arrive
            raise ArmError(200, "InvalidResponse", "ARM answered with a body that is not JSON") from None
        except AzureError as error:
            raise ArmError(None, "ConnectionFailed", clip(f"{type(error).__name__}: {error}", 300)) from None
        if response.status_code != 200:
            raise ArmError(response.status_code, *arm_error(response))
        try:
            body = json.loads(response.text())
        except (ValueError, UnicodeDecodeError):
            raise ArmError(200, "InvalidResponse", "ARM answered 200 with a body that is not JSON") from None
        if not isinstance(body, dict):
            raise ArmError(200, "InvalidResponse", "ARM answered 200 with JSON that is not an object")
        return body

    def list_subscriptions(self) -> Iterator[Subscription]:
        """Every subscription the identity can see, following `nextLink` (bounded, same host only)."""
        url: str | None = f"{self._endpoint}/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}"
        seen_links: set[str] = set()
        while url:
            if len(seen_links) >= MAX_SUBSCRIPTION_PAGES:
                raise ArmError(None, "TooManyPages", f"subscription list has more than {MAX_SUBSCRIPTION_PAGES} pages")
            body = self._read_json(url)
            for item in body.get("value") or []:
                if isinstance(item, dict) and item.get("subscriptionId"):
                    yield _subscription(item)
            next_link = body.get("nextLink")
            url = next_link if isinstance(next_link, str) and next_link else None
            if url in seen_links:  # a nextLink that repeats itself would loop forever
                raise ArmError(200, "RepeatedNextLink", "subscription list paging repeated itself")
            if url and _origin(url) != _origin(self._endpoint):  # our token goes only to our endpoint
                raise ArmError(
                    200, "ForeignNextLink", f"subscription list paging pointed at another host ({_origin(url)})"
                )
            if url:
                seen_links.add(url)

    def get_subscription(self, subscription_id: str) -> Subscription:
        return _subscription(
            self._read_json(f"{self._endpoint}/subscriptions/{subscription_id}?api-version={SUBSCRIPTIONS_API_VERSION}")
        )

    def automatic_upgrade_enabled(self, machine_id: str) -> bool | None:
        """What ARM says now about the machine's flag (None: not set); ArmError if it cannot tell."""
        machine = parse_machine_id(machine_id)
        if machine is None:
            raise ArmError(None, "UnrecognisedId", "not a Microsoft.HybridCompute/machines id; not read")
        body = self._read_json(f"{self._endpoint}{machine.path}?api-version={self._api_version}")
        properties = body.get("properties")
        return _flag(properties.get("agentUpgrade") if isinstance(properties, dict) else None)

    def extension_upgrade_enabled(self, extension_id: str) -> bool | None:
        """What ARM says now about the extension's flag (None: not set, which means opted in)."""
        extension = parse_extension_id(extension_id)
        if extension is None:
            raise ArmError(None, "UnrecognisedId", "not a machine extension id; not read")
        return _flag(
            self._read_json(f"{self._endpoint}{extension.path}?api-version={self._api_version}").get("properties")
        )

    def enable_automatic_upgrade(self, machine_id: str, gate: Gate | None = None) -> PatchOutcome:
        """PATCH the one property. `http_status` None means no answer: the outcome is unknown."""
        machine = parse_machine_id(machine_id)
        if machine is None:
            return PatchOutcome(
                False, None, "UnrecognisedId", "not a Microsoft.HybridCompute/machines id; not sent", sent=False
            )
        return self._patch(machine.path, ENABLE_AUTOMATIC_UPGRADE_BODY, gate, machine.name)

    def enable_extension_upgrade(self, extension_id: str, gate: Gate | None = None) -> PatchOutcome:
        """PATCH exactly `{"properties":{"enableAutomaticUpgrade":true}}` onto one extension."""
        extension = parse_extension_id(extension_id)
        if extension is None:
            return PatchOutcome(False, None, "UnrecognisedId", "not a machine extension id; not sent", sent=False)
        return self._patch(
            extension.path, ENABLE_EXTENSION_UPGRADE_BODY, gate, f"{extension.machine.name}/{extension.name}"
        )

    def _patch(self, path: str, body: dict[str, Any], gate: Gate | None, what: str) -> PatchOutcome:
        url = f"{self._endpoint}{path}?api-version={self._api_version}"
        try:
            response = self._send("PATCH", url, body=body, gate=gate)
        except BudgetExhausted as error:
            return PatchOutcome(False, None, "WriteBudgetExhausted", str(error), sent=False)
        except ClientAuthenticationError as error:  # no token: nothing was sent
            return PatchOutcome(False, None, "TokenUnavailable", clip(str(error), 300), sent=False)
        except ServiceRequestError as error:  # never reached ARM (connection refused, DNS, TLS)
            return PatchOutcome(False, None, "ConnectionFailed", clip(str(error), 300), sent=False)
        except AzureError as error:  # sent, but no complete answer: ARM may have applied it
            return PatchOutcome(False, None, "NoResponse", clip(f"{type(error).__name__}: {error}", 300))
        if 200 <= response.status_code < 300:  # 200 per the spec; accept any success an implementation sends
            return PatchOutcome(True, response.status_code)
        code, message = arm_error(response)
        log.info("PATCH %s refused: %s %s", what, response.status_code, code)
        return PatchOutcome(False, response.status_code, code, message)


def _flag(properties: Any) -> bool | None:
    flag = properties.get("enableAutomaticUpgrade") if isinstance(properties, dict) else None
    return flag if isinstance(flag, bool) else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _subscription(item: dict[str, Any]) -> Subscription:
    return Subscription(
        subscription_id=str(item.get("subscriptionId", "")).lower(),
        display_name=str(item.get("displayName") or ""),
        state=str(item.get("state") or "Unknown"),
    )
