"""Azure Resource Graph: the one place the product reads the fleet.

Entry point: :meth:`ResourceGraph.find_machines`. It batches subscriptions (Microsoft
asks for fewer than 300 per request), follows every page with `$skipToken` at the
documented maximum page size of 1,000, orders by id so pages are stable, and respects
the per-user quota headers. 429 and 5xx are retried by azure-core's retry policy,
which honours `Retry-After`.
"""
from __future__ import annotations

import logging
import threading
import time
from importlib import resources
from typing import Any, Iterable, Iterator

from azure.core.credentials import TokenCredential
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from arc_sweeper.credentials import token_scope
from arc_sweeper.endpoints import is_loopback_url, require_safe_endpoint
from arc_sweeper.machine import MachineSnapshot

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
MAX_SUBSCRIPTIONS_PER_QUERY = 299

MACHINES_QUERY = resources.files("arc_sweeper").joinpath("queries/machines.kql").read_text("utf-8")
"""Every Arc machine with what classification and follow-up read; ordered by id for stable paging."""


class QuotaGate:
    """Shared by every query in this process: waits out an exhausted Resource Graph quota.

    Resource Graph reports `x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after`
    on every response; at zero, the next query would be throttled, so we wait first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed_until = 0.0

    def wait(self) -> None:
        with self._lock:
            delay = self._closed_until - time.monotonic()
        if delay > 0:
            log.info("Resource Graph quota exhausted, waiting %.1fs", delay)
            time.sleep(delay)

    def observe(self, headers: Any) -> None:
        remaining = headers.get("x-ms-user-quota-remaining")
        resets_after = headers.get("x-ms-user-quota-resets-after")
        if remaining is None or resets_after is None:
            return
        try:
            if int(remaining) > 0:
                return
            hours, minutes, seconds = (float(part) for part in str(resets_after).split(":"))
        except ValueError:
            return
        with self._lock:
            self._closed_until = max(self._closed_until, time.monotonic() + hours * 3600 + minutes * 60 + seconds)


QUOTA = QuotaGate()


class ResourceGraph:
    def __init__(
        self,
        arm_endpoint: str,
        credential: TokenCredential,
        *,
        subscriptions_per_query: int = 200,
        retry_total: int = 6,
    ) -> None:
        require_safe_endpoint(arm_endpoint, "ARM_ENDPOINT")
        if not 1 <= subscriptions_per_query <= MAX_SUBSCRIPTIONS_PER_QUERY:
            raise ValueError("subscriptions_per_query must be between 1 and 299")
        self._plain_http = arm_endpoint.startswith("http://") and is_loopback_url(arm_endpoint)
        self._subscriptions_per_query = subscriptions_per_query
        self._client = ResourceGraphClient(
            credential,
            base_url=arm_endpoint,
            credential_scopes=[token_scope(arm_endpoint)],
            retry_total=retry_total,
            retry_backoff_factor=1.0,
            retry_backoff_max=60,
        )

    def find_machines(self, subscription_ids: Iterable[str]) -> Iterator[MachineSnapshot]:
        """Every Arc machine in these subscriptions, in id order within each batch."""
        subscriptions = sorted(set(subscription_ids))
        for start in range(0, len(subscriptions), self._subscriptions_per_query):
            batch = subscriptions[start:start + self._subscriptions_per_query]
            for row in self._rows(MACHINES_QUERY, batch):
                yield machine_from_row(row)

    def _rows(self, query: str, subscriptions: list[str]) -> Iterator[dict[str, Any]]:
        skip_token: str | None = None
        tokens_seen: set[str] = set()
        while True:
            QUOTA.wait()
            request = QueryRequest(
                subscriptions=subscriptions,
                query=query,
                options=QueryRequestOptions(top=PAGE_SIZE, skip_token=skip_token, result_format="objectArray"),
            )
            response = self._client.resources(request, cls=self._observe_quota, enforce_https=not self._plain_http)
            raw: Any = response.data  # objectArray: a list of rows; anything else is no rows
            data = raw if isinstance(raw, list) else []
            yield from (row for row in data if isinstance(row, dict))
            skip_token = response.skip_token
            if not skip_token:
                return
            if skip_token in tokens_seen:  # a token that repeats itself would page forever
                raise RuntimeError("Resource Graph returned the same $skipToken twice; paging stopped")
            tokens_seen.add(skip_token)

    @staticmethod
    def _observe_quota(pipeline_response: Any, deserialized: Any, _headers: Any) -> Any:
        QUOTA.observe(pipeline_response.http_response.headers)
        return deserialized


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _auto_upgrade(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def machine_from_row(row: dict[str, Any]) -> MachineSnapshot:
    """A snapshot from one Resource Graph row; odd or missing values are kept as text."""
    tags = row.get("tags")
    return MachineSnapshot(
        id=_text(row.get("id")),
        name=_text(row.get("name")),
        subscription_id=_text(row.get("subscriptionId")).lower(),
        resource_group=_text(row.get("resourceGroup")),
        location=_text(row.get("location")),
        os_type=_text(row.get("osType")),
        status=_text(row.get("status")),
        agent_version=_text(row.get("agentVersion")),
        auto_upgrade=_auto_upgrade(row.get("autoUpgrade")),
        last_attempt_status=_text(row.get("lastAttemptStatus")),
        last_attempt_message=_text(row.get("lastAttemptMessage")),
        last_attempt_timestamp=_text(row.get("lastAttemptTimestamp")),
        last_status_change=_text(row.get("lastStatusChange")),
        tags={str(k): _text(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
    )
