"""Azure Resource Manager: subscriptions and the one write the product makes.

Entry point: :class:`Arm`. `enable_automatic_upgrade` sends exactly
`{"properties":{"agentUpgrade":{"enableAutomaticUpgrade":true}}}` as a PATCH (ARM merges
it into the machine; nothing else changes) and reports the outcome instead of raising,
so one refused machine never stops the others.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator
from urllib.parse import urlsplit

import requests
import requests.adapters
from azure.core.credentials import TokenCredential

from arc_sweeper.credentials import token_scope
from arc_sweeper.endpoints import require_safe_endpoint
from arc_sweeper.http_retry import RetriesExhausted, RetryPolicy, arm_error, send_with_retry
from arc_sweeper.ports import ArmError, PatchOutcome, Subscription
from arc_sweeper.resource_ids import parse_machine_id

log = logging.getLogger(__name__)

SUBSCRIPTIONS_API_VERSION = "2022-12-01"
ENABLE_AUTOMATIC_UPGRADE_BODY = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}


class Arm:
    def __init__(
        self,
        endpoint: str,
        credential: TokenCredential,
        *,
        hybridcompute_api_version: str,
        retry_policy: RetryPolicy = RetryPolicy(),
        session: requests.Session | None = None,
    ) -> None:
        require_safe_endpoint(endpoint, "ARM_ENDPOINT")
        self._endpoint = endpoint.rstrip("/")
        self._credential = credential
        self._scope = token_scope(self._endpoint)
        self._api_version = hybridcompute_api_version
        self._retry_policy = retry_policy
        self._session = session or _pooled_session()

    def _headers(self) -> dict[str, str]:
        token = self._credential.get_token(self._scope).token
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return send_with_retry(
            self._session, method, url, policy=self._retry_policy, headers=self._headers(), **kwargs
        )

    def list_subscriptions(self) -> Iterator[Subscription]:
        """Every subscription the identity can see, following `nextLink`."""
        url: str | None = f"{self._endpoint}/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}"
        seen_links: set[str] = set()
        while url:
            response = self._read(url)
            body = response.json()
            for item in body.get("value") or []:
                if isinstance(item, dict) and item.get("subscriptionId"):
                    yield _subscription(item)
            url = body.get("nextLink") or None
            if url in seen_links:  # a nextLink that repeats itself would loop forever
                raise ArmError(response.status_code, "RepeatedNextLink", "subscription list paging repeated itself")
            if url and _origin(url) != _origin(self._endpoint):  # our token goes only to our endpoint
                raise ArmError(response.status_code, "ForeignNextLink",
                               f"subscription list paging pointed at another host ({_origin(url)})")
            if url:
                seen_links.add(url)

    def get_subscription(self, subscription_id: str) -> Subscription:
        url = f"{self._endpoint}/subscriptions/{subscription_id}?api-version={SUBSCRIPTIONS_API_VERSION}"
        return _subscription(self._read(url).json())

    def _read(self, url: str) -> requests.Response:
        try:
            response = self._send("GET", url)
        except RetriesExhausted as error:
            raise ArmError(None, "ConnectionFailed", str(error)) from None
        if response.status_code != 200:
            raise ArmError(response.status_code, *arm_error(response))
        return response

    def enable_automatic_upgrade(self, machine_id: str) -> PatchOutcome:
        """PATCH the one property; the URL is rebuilt from the parsed id, never concatenated from it."""
        machine = parse_machine_id(machine_id)
        if machine is None:
            return PatchOutcome(False, None, "UnrecognisedId", "not a Microsoft.HybridCompute/machines id; not sent")
        url = f"{self._endpoint}{machine.path}?api-version={self._api_version}"
        try:
            response = self._send("PATCH", url, json=ENABLE_AUTOMATIC_UPGRADE_BODY)
        except RetriesExhausted as error:
            return PatchOutcome(False, None, "ConnectionFailed", str(error))
        if 200 <= response.status_code < 300:  # 200 per the spec; accept any success an implementation sends
            return PatchOutcome(True, response.status_code)
        code, message = arm_error(response)
        log.info("PATCH %s refused: %s %s", machine_id, response.status_code, code)
        return PatchOutcome(False, response.status_code, code, message)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _pooled_session() -> requests.Session:
    """One session for the process: several activities each run parallel PATCHes through it."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _subscription(item: dict[str, Any]) -> Subscription:
    return Subscription(
        subscription_id=str(item.get("subscriptionId", "")).lower(),
        display_name=str(item.get("displayName") or ""),
        state=str(item.get("state") or "Unknown"),
    )
