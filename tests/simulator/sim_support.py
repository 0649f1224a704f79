"""Helpers for the fleet simulator tests (imported by name: several test folders have a conftest)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
from azure.core.credentials import AccessToken

from arc_sweeper.resource_graph import EXTENSIONS_QUERY as EXTENSIONS_QUERY_OF_THE_PRODUCT
from arc_sweeper.resource_graph import MACHINES_QUERY as MACHINES_QUERY_OF_THE_PRODUCT
from local_stack.simulator import Fleet, Machine, Subscription, UpgradeBehaviour

T0 = datetime(2026, 8, 15, 12, 0, tzinfo=UTC)
ARG_PATH = "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"
HC_API = "2025-01-13"

SUB_A = "00000000-0000-4000-8000-00000000000a"  # plain
SUB_B = "00000000-0000-4000-8000-00000000000b"  # readable, write-forbidden
SUB_C = "00000000-0000-4000-8000-00000000000c"  # Disabled
SUB_D = "00000000-0000-4000-8000-00000000000d"  # unreadable
SUB_E = "00000000-0000-4000-8000-00000000000e"  # has a locked resource group

MACHINES_QUERY = "resources | where type =~ 'microsoft.hybridcompute/machines' | project id, name | order by id asc"
PRODUCT_QUERY = MACHINES_QUERY_OF_THE_PRODUCT  # the product's own file, never a copy that can drift
AGENT_QUERY = PRODUCT_QUERY.replace(
    "| project id,",
    "| extend lastAttemptDesiredVersion = tostring(properties.agentUpgrade.lastAttemptDesiredVersion)\n"
    "| project lastAttemptDesiredVersion, id,",
)
"""The product's query plus the desired version of the last attempt, which agent tests look at."""
EXTENSIONS_QUERY = EXTENSIONS_QUERY_OF_THE_PRODUCT.replace(
    "| project id, name, subscriptionId,",
    "| extend machineId = tolower(tostring(split(id, '/extensions/')[0])),\n"
    "         autoUpgradeMinorVersion = tobool(properties.autoUpgradeMinorVersion),\n"
    "         statusCode = tostring(properties.instanceView.status.code)\n"
    "| project id, name, subscriptionId, resourceGroup, machineId, autoUpgradeMinorVersion, statusCode,",
)
"""The product's extension query plus the columns the simulator's tests also look at."""

_tokens = itertools.count()


def new_token() -> str:
    """A fresh caller: ARG quotas and ARM buckets are per token."""
    return f"token-{next(_tokens)}"


class StaticCredential:
    """What the product's credential looks like to azure-core, with a fixed token."""

    def __init__(self, token: str = "dev"):
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, 4102444800)


class Api:
    """Thin `requests` helper: base URL and a bearer token."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url
        self.session = requests.Session()
        self.token = token or new_token()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base_url + path
        return self.session.get(url, headers=self.headers(), **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.session.patch(self.base_url + path, headers=self.headers(), json=body, **kw)

    def query(self, query: str, *, subscriptions: list[str] | None = None, **options: Any) -> requests.Response:
        body: dict[str, Any] = {"query": query, "options": options}
        if subscriptions is not None:
            body["subscriptions"] = subscriptions
        return self.session.post(self.base_url + ARG_PATH, headers=self.headers(), json=body)

    def machine_url(self, machine: Machine, api_version: str = HC_API) -> str:
        return f"{machine.id}?api-version={api_version}"


def all_pages(api: Api, query: str, top: int | None, subscriptions=None) -> tuple[list[dict], list[dict]]:
    """Every row of a Resource Graph query, following $skipToken: (rows, response bodies)."""
    rows, bodies, token = [], [], None
    while True:
        options = {} if top is None else {"$top": top}
        if token:
            options["$skipToken"] = token
        r = api.query(query, subscriptions=subscriptions, **options)
        assert r.status_code == 200, r.text
        body = r.json()
        bodies.append(body)
        rows.extend(body["data"])
        token = body.get("$skipToken")
        if not token:
            return rows, bodies


def encoded(resource_id: str) -> str:
    """What a careful client sends: each path segment percent-encoded on its own."""
    return "/".join(quote(segment, safe="") for segment in resource_id.split("/"))


def small_fleet(extra: list[Machine] | None = None) -> Fleet:
    """Five subscriptions with one trait each, and a few machines in every one."""
    subs = [
        Subscription(SUB_A, "Plain"),
        Subscription(SUB_B, "Write-forbidden", writable=False),
        Subscription(SUB_C, "Disabled", state="Disabled"),
        Subscription(SUB_D, "Unreadable", readable=False),
        Subscription(SUB_E, "Locks", locked_resource_groups={"rg-locked"}),
    ]
    machines = [
        Machine.build(
            SUB_A, "rg-one", "web-01", os_type="windows", agent_version="1.60.03293.2680", tags={"environment": "prod"}
        ),
        Machine.build(SUB_A, "rg-one", "db-01", agent_version="1.58.03224.693", auto_upgrade=False),
        Machine.build(SUB_A, "RG-Two", "app-01", agent_version="1.50.03025.500", auto_upgrade=True),
        Machine.build(SUB_A, "RG-Two", "locked-01", locked=True),
        Machine.build(SUB_A, "RG-Two", "forbidden-01", write_forbidden=True),
        Machine.build(SUB_B, "rg-b", "b-01"),
        Machine.build(SUB_C, "rg-c", "c-01"),
        Machine.build(SUB_D, "rg-d", "d-01"),
        Machine.build(SUB_E, "rg-locked", "e-01"),
        Machine.build(SUB_E, "rg-open", "e-02"),
    ]
    return Fleet(subs, machines + (extra or []), created_at=T0)


def behaviour(
    outcome: str = "succeed", *, delay_days: float = 2, offset_minutes: float = 30, failures: int = 1
) -> UpgradeBehaviour:
    return UpgradeBehaviour(
        outcome=outcome,
        failures=failures,
        propagation_delay=timedelta(days=delay_days),
        window_offset=timedelta(minutes=offset_minutes),
    )
