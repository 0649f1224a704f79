"""Azure Resource Graph: the one place the product reads the fleet.

Entry point: :meth:`ResourceGraph.find_machines`. It batches subscriptions (Microsoft
asks for fewer than 300 per request), follows every page with `$skipToken` at the
documented maximum page size of 1,000 and orders by id so pages are stable. It goes
through the one HTTP stack (arc_sweeper.http_pipeline): 429 and 5xx are retried with a
bounded wait, and the identity's quota is spent through a :class:`QuotaGate` that the
caller hands from one activity to the next. Paging is bounded too: a `$skipToken` that
repeats, one offered on an empty page or after every row the query reported
(`totalRecords`), more than MAX_PAGES pages, or a page that says rows were cut off without
a token to the rest fails the query instead of passing off a partial estate as complete.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

from azure.core.credentials import TokenCredential
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from arc_sweeper.credentials import token_scope
from arc_sweeper.endpoints import is_loopback_url, require_safe_endpoint
from arc_sweeper.extensions import ExtensionSnapshot, extension_from_row
from arc_sweeper.http_pipeline import DeadlineTransport, HttpLimits, policies
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.setting_values import DEFAULT_RESOURCE_GRAPH_BATCH_SIZE
from arc_sweeper.throttling import Gate

log = logging.getLogger(__name__)

PAGE_SIZE = 1000
MAX_SUBSCRIPTIONS_PER_QUERY = 299
MAX_PAGES = 2000
"""Two million rows per query: far above any estate, and a bound on a server that pages forever."""

MACHINES_QUERY = resources.files("arc_sweeper").joinpath("queries/machines.kql").read_text("utf-8")
"""Every Arc machine with what classification and follow-up read; ordered by id for stable paging."""
EXTENSIONS_QUERY = resources.files("arc_sweeper").joinpath("queries/extensions.kql").read_text("utf-8")
"""Every Arc machine extension, with its machine's id (lowercase) to join it to the machine in the product."""


class GraphQueryError(Exception):
    """Resource Graph answered in a way that means rows would be lost; the query is not trusted."""


class ResourceGraph:
    def __init__(
        self,
        arm_endpoint: str,
        credential: TokenCredential,
        *,
        subscriptions_per_query: int = DEFAULT_RESOURCE_GRAPH_BATCH_SIZE,
        limits: HttpLimits = HttpLimits(),
    ) -> None:
        require_safe_endpoint(arm_endpoint, "ARM_ENDPOINT")
        if not 1 <= subscriptions_per_query <= MAX_SUBSCRIPTIONS_PER_QUERY:
            raise ValueError("subscriptions_per_query must be between 1 and 299")
        self._subscriptions_per_query = subscriptions_per_query
        scopes = [token_scope(arm_endpoint)]
        self._client = ResourceGraphClient(
            credential,
            base_url=arm_endpoint,
            credential_scopes=scopes,
            transport=DeadlineTransport(limits),
            policies=policies(
                limits, credential=credential, scopes=scopes, allow_plain_http=is_loopback_url(arm_endpoint)
            ),
        )

    def find_machines(self, subscription_ids: Iterable[str], gate: Gate | None = None) -> Iterator[MachineSnapshot]:
        """Every Arc machine in these subscriptions, in id order within each batch."""
        return (machine_from_row(row) for row in self._batched(MACHINES_QUERY, subscription_ids, gate))

    def find_extensions(self, subscription_ids: Iterable[str], gate: Gate | None = None) -> Iterator[ExtensionSnapshot]:
        """Every extension of every Arc machine in these subscriptions: one query, paged and batched."""
        return (extension_from_row(row) for row in self._batched(EXTENSIONS_QUERY, subscription_ids, gate))

    def _batched(self, query: str, subscription_ids: Iterable[str], gate: Gate | None) -> Iterator[dict[str, Any]]:
        subscriptions = sorted(set(subscription_ids))
        for start in range(0, len(subscriptions), self._subscriptions_per_query):
            yield from self._rows(query, subscriptions[start : start + self._subscriptions_per_query], gate)

    def _rows(self, query: str, subscriptions: list[str], gate: Gate | None) -> Iterator[dict[str, Any]]:
        skip_token: str | None = None
        tokens_seen: set[str] = set()
        read = total = 0
        for _ in range(MAX_PAGES):
            request = QueryRequest(
                subscriptions=subscriptions,
                query=query,
                options=QueryRequestOptions(top=PAGE_SIZE, skip_token=skip_token, result_format="objectArray"),
            )
            response = self._client.resources(request, throttle_gate=gate)
            raw: Any = response.data  # objectArray: a list of rows; anything else is no rows
            data = raw if isinstance(raw, list) else []
            yield from (row for row in data if isinstance(row, dict))
            read, total = read + len(data), max(total, response.total_records or 0)
            skip_token = response.skip_token
            if not skip_token:
                if _truthy(response.result_truncated):
                    raise GraphQueryError(
                        "Resource Graph cut the result off (resultTruncated) without a $skipToken"
                        " to the rest: rows would be lost"
                    )
                return
            if skip_token in tokens_seen:  # a token that repeats itself would page forever
                raise GraphQueryError("Resource Graph returned the same $skipToken twice; paging stopped")
            if not data or read >= total:  # so would one that leads past every row there is
                raise GraphQueryError(
                    f"Resource Graph offered a $skipToken after {read} of its {total} rows"
                    f"{'' if data else ' on an empty page'}; paging stopped"
                )
            tokens_seen.add(skip_token)
        raise GraphQueryError(f"Resource Graph paging went on for more than {MAX_PAGES} pages; stopped")


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


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
