"""Resource Graph wire format, paging, quota and KQL execution."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta

import pytest
from azure.mgmt.resourcegraph import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
from sim_support import (
    AGENT_QUERY,
    ARG_PATH,
    MACHINES_QUERY,
    PRODUCT_QUERY,
    SUB_A,
    SUB_B,
    SUB_C,
    SUB_D,
    SUB_E,
    T0,
    Api,
    StaticCredential,
    all_pages,
    behaviour,
    new_token,
    small_fleet,
)

from local_stack.simulator import Machine, ThrottleSettings

MACHINES = MACHINES_QUERY


def test_paging_returns_every_row_once_in_id_order(big_sim):
    api = Api(big_sim.base_url)
    rows, bodies = all_pages(api, MACHINES, top=700)
    visible = sorted(
        m.id for m in big_sim.fleet.machines if not m.deleted and big_sim.fleet.subscription(m.subscription_id).readable
    )
    assert [r["id"] for r in rows] == visible  # every row once, id order
    assert len(bodies) == -(-len(visible) // 700) >= 3
    assert all(b["totalRecords"] == len(visible) for b in bodies)
    assert [b["count"] for b in bodies[:-1]] == [700] * (len(bodies) - 1)
    assert all(b["resultTruncated"] == "false" and b["facets"] == [] for b in bodies)
    assert "$skipToken" not in bodies[-1]


def test_default_page_size_is_100(big_sim):
    body = Api(big_sim.base_url).query(MACHINES).json()
    assert body["count"] == 100 and len(body["data"]) == 100
    assert body["totalRecords"] > 1000 and body["$skipToken"]


@pytest.mark.parametrize("top", [1001, 0, -1])
def test_top_outside_1_to_1000_is_rejected(api, top):
    r = api.query(MACHINES, **{"$top": top})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "BadRequest"


def test_top_1000_is_accepted(api):
    assert api.query(MACHINES, **{"$top": 1000}).status_code == 200


def test_skip_token_is_bound_to_its_query(big_sim):
    api = Api(big_sim.base_url)
    token = api.query(MACHINES, **{"$top": 10}).json()["$skipToken"]
    assert json.loads(base64.b64decode(token))["$skip"] == 10  # opaque to clients, but an offset inside
    other = api.query(MACHINES.replace("project id, name", "project id"), **{"$top": 10, "$skipToken": token})
    assert other.status_code == 400 and other.json()["error"]["code"] == "BadRequest"
    garbage = api.query(MACHINES, **{"$skipToken": "not-a-token"})
    assert garbage.status_code == 400
    same = api.query(MACHINES, **{"$top": 10, "$skipToken": token})
    assert same.status_code == 200 and same.json()["count"] == 10


def test_skip_option(api):
    first = api.query(MACHINES, **{"$top": 3}).json()["data"]
    skipped = api.query(MACHINES, **{"$top": 2, "$skip": 1}).json()["data"]
    assert skipped == first[1:3]


def test_no_skip_token_without_id_or_with_take(big_sim):
    api = Api(big_sim.base_url)
    no_id = api.query("resources | project name", **{"$top": 5}).json()
    assert "$skipToken" not in no_id and no_id["resultTruncated"] == "true"
    take = api.query("resources | project id | take 50", **{"$top": 5}).json()
    assert "$skipToken" not in take and take["resultTruncated"] == "true" and take["totalRecords"] == 50


def test_quota_headers_count_down_then_429(make_sim):
    api = Api(make_sim().base_url)
    remaining = []
    for _ in range(15):
        r = api.query("resources | project id | take 1")
        assert r.status_code == 200
        remaining.append(int(r.headers["x-ms-user-quota-remaining"]))
        assert re.fullmatch(r"\d\d:\d\d:\d\d", r.headers["x-ms-user-quota-resets-after"])
    assert remaining == list(range(14, -1, -1))
    r = api.query("resources | project id | take 1")
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "RateLimiting"
    assert 1 <= int(r.headers["Retry-After"]) <= 5
    assert r.headers["x-ms-user-quota-remaining"] == "0"
    assert "00:00:00" < r.headers["x-ms-user-quota-resets-after"] <= "00:00:05"
    # quota is per caller
    assert Api(api.base_url).query("resources | project id | take 1").status_code == 200


def test_quota_is_configurable(make_sim):
    sim = make_sim(throttling=ThrottleSettings(arg_quota=2))
    api = Api(sim.base_url)
    assert [api.query(MACHINES).status_code for _ in range(3)] == [200, 200, 429]
    sim.set_throttling(ThrottleSettings(arg_quota=4))
    assert [api.query(MACHINES).status_code for _ in range(5)] == [200, 200, 200, 200, 429]


def test_product_query_through_the_sdk_returns_typed_values(sim):
    client = ResourceGraphClient(StaticCredential(new_token()), base_url=sim.base_url)
    seen_headers = {}

    def keep_headers(pipeline_response, deserialized, headers):
        seen_headers.update(pipeline_response.http_response.headers)
        return deserialized

    request = QueryRequest(
        subscriptions=[SUB_A, SUB_B, SUB_C, SUB_D, SUB_E],
        query=PRODUCT_QUERY,
        options=QueryRequestOptions(top=1000, result_format="objectArray"),
    )
    response = client.resources(request, enforce_https=False, cls=keep_headers)
    assert response.total_records == 9 and response.count == 9 and response.skip_token is None
    assert response.result_truncated == "false"
    assert seen_headers["x-ms-user-quota-remaining"] == "14"
    rows = {row["name"]: row for row in response.data}
    assert "d-01" not in rows  # unreadable subscription is invisible
    assert [r["id"] for r in response.data] == sorted(r["id"] for r in response.data)
    web = rows["web-01"]
    assert web == {
        "id": f"/subscriptions/{SUB_A}/resourceGroups/rg-one/providers/Microsoft.HybridCompute/machines/web-01",
        "name": "web-01",
        "subscriptionId": SUB_A,
        "resourceGroup": "rg-one",
        "location": "eastus",
        "agentVersion": "1.60.03293.2680",
        "status": "Connected",
        "autoUpgrade": None,
        "lastAttemptStatus": "",
        "lastAttemptTimestamp": "",
        "lastAttemptMessage": "",
        "osType": "windows",
        "lastStatusChange": "2026-08-01T09:12:44.1234560Z",
        "tags": {"environment": "prod"},
    }
    assert rows["db-01"]["autoUpgrade"] is False
    assert rows["app-01"]["autoUpgrade"] is True
    assert rows["app-01"]["resourceGroup"] == "rg-two"  # ARG lowercases resourceGroup
    assert rows["b-01"]["tags"] == {} and isinstance(rows["b-01"]["tags"], dict)


def test_product_query_sees_patch_and_failed_attempts(make_sim):
    failing = Machine.build(
        SUB_A,
        "rg-one",
        "fail-01",
        agent_version="1.58.03224.693",
        behaviour=behaviour("stuck", delay_days=1, offset_minutes=10),
    )
    sim = make_sim(small_fleet([failing]))
    api = Api(sim.base_url)
    assert (
        api.patch(
            f"{failing.id}?api-version=2025-01-13", {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}
        ).status_code
        == 200
    )
    sim.clock.advance_to(T0 + timedelta(days=2))
    rows = {r["name"]: r for r in api.query(AGENT_QUERY, **{"$top": 1000}).json()["data"]}
    row = rows["fail-01"]
    assert row["autoUpgrade"] is True
    assert row["lastAttemptStatus"] == "Failed"
    assert row["lastAttemptTimestamp"] == "2026-08-17T01:10:00.0000000Z"
    assert row["lastAttemptMessage"].startswith("AZCM0165: Failed to download the agent package")
    assert row["lastAttemptDesiredVersion"] == "1.67.03504.1320"
    assert row["agentVersion"] == "1.58.03224.693"


def test_table_result_format(api):
    r = api.query(
        "resources | where type =~ 'microsoft.hybridcompute/machines' and name == 'db-01' "
        "| project id, name, auto = tobool(properties.agentUpgrade.enableAutomaticUpgrade), "
        "major = toint(split(tostring(properties.agentVersion), '.')[1]), tags, "
        "changed = todatetime(properties.lastStatusChange)",
        resultFormat="table",
    )
    data = r.json()["data"]
    assert data["columns"] == [
        {"name": "id", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "auto", "type": "boolean"},
        {"name": "major", "type": "integer"},
        {"name": "tags", "type": "object"},
        {"name": "changed", "type": "datetime"},
    ]
    assert data["rows"] == [
        [
            f"/subscriptions/{SUB_A}/resourceGroups/rg-one/providers/Microsoft.HybridCompute/machines/db-01",
            "db-01",
            False,
            58,
            {},
            "2026-08-01T09:12:44.1234560Z",
        ]
    ]


@pytest.mark.parametrize(
    "query",
    [
        "resources | where type =~ 'x' | wherex",
        "resources | where (",
        "resources | project nosuchcolumn",
        "nosuchtable | take 1",
    ],
)
def test_malformed_or_invalid_kql_is_400(api, query):
    r = api.query(query)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["details"][0]["code"] == "InvalidQuery"
    assert error["message"]


def test_queries_cannot_write(api):
    r = api.query(".set-or-replace resources <| datatable(id:string)['x']")
    assert r.status_code == 400


def test_subscription_scope(api):
    names = lambda r: sorted(row["name"] for row in r.json()["data"])  # noqa: E731
    q = "resources | where type =~ 'microsoft.hybridcompute/machines' | project id, name"
    assert names(api.query(q, subscriptions=[SUB_E])) == ["e-01", "e-02"]
    assert names(api.query(q, subscriptions=[SUB_D])) == []  # cannot read
    assert names(api.query(q, subscriptions=[SUB_E.upper()])) == ["e-01", "e-02"]
    everything = names(api.query(q))  # no subscriptions: all readable
    assert len(everything) == 9 and "d-01" not in everything


def test_more_than_1000_subscriptions_is_400(api):
    r = api.query(MACHINES, subscriptions=[f"00000000-0000-4000-8000-{i:012d}" for i in range(1001)])
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"


@pytest.mark.parametrize(
    "version,status",
    [("2021-03-01", 200), ("2022-10-01", 200), ("2024-04-01", 200), ("2019-04-01", 400), ("banana", 400)],
)
def test_arg_api_versions(api, version, status):
    r = api.session.post(
        api.base_url + "/providers/Microsoft.ResourceGraph/resources?api-version=" + version,
        headers=api.headers(),
        json={"query": MACHINES},
    )
    assert r.status_code == status
    if status == 400:
        assert r.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_extension_rows_and_resourcecontainers(api):
    exts = api.query(
        "resources | where type =~ 'microsoft.hybridcompute/machines/extensions' "
        "| extend machineId = tolower(tostring(split(id, '/extensions/')[0])) "
        "| project id, machineId, name, publisher = tostring(properties.publisher), "
        "autoUpgrade = tobool(properties.enableAutomaticUpgrade) | order by id asc",
        subscriptions=[SUB_A],
        **{"$top": 1000},
    ).json()["data"]
    web = [e for e in exts if e["machineId"].endswith("/machines/web-01")]
    assert [e["name"] for e in web] == ["AzureMonitorWindowsAgent", "MDE.Windows"]
    assert web[0]["publisher"] == "Microsoft.Azure.Monitor" and web[0]["autoUpgrade"] is True
    subs = api.query(
        "resourcecontainers | where type == 'microsoft.resources/subscriptions' "
        "| project id, subscriptionId, state = tostring(properties.state)"
    ).json()["data"]
    assert {s["subscriptionId"]: s["state"] for s in subs} == {
        SUB_A: "Enabled",
        SUB_B: "Enabled",
        SUB_C: "Disabled",
        SUB_E: "Enabled",
    }


def test_now_is_the_simulated_clock(api, sim):
    sim.clock.advance_to(T0 + timedelta(days=10))
    row = api.query("resources | take 1 | project id, t = now()").json()["data"][0]
    assert row["t"].startswith("2026-08-25T12:0")


def test_unauthenticated_arg_is_401(api):
    r = api.session.post(api.base_url + ARG_PATH, json={"query": MACHINES})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "AuthenticationFailed"


def test_pages_of_a_query_reuse_its_result_until_the_fleet_changes(sim, monkeypatch):
    """Each page used to run the whole query again; a change between pages still shows on the next page."""
    api = Api(sim.base_url)
    runs: list[str] = []
    translate = sim.index._translate
    monkeypatch.setattr(sim.index, "_translate", lambda query, now: runs.append(query) or translate(query, now))
    every, _ = all_pages(api, AGENT_QUERY, top=1000)
    at = next(i for i, row in enumerate(every) if i and row["autoUpgrade"] is False)

    first = api.query(AGENT_QUERY, **{"$top": at}).json()
    again = api.query(AGENT_QUERY, **{"$top": at, "$skipToken": first["$skipToken"]}).json()
    assert len(runs) == 1 and again["data"][0]["id"] == every[at]["id"]

    patched = api.patch(
        f"{every[at]['id']}?api-version=2025-01-13", {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}
    )
    assert patched.status_code == 200
    after = api.query(AGENT_QUERY, **{"$top": at, "$skipToken": first["$skipToken"]}).json()
    assert len(runs) == 2 and after["data"][0]["id"] == every[at]["id"] and after["data"][0]["autoUpgrade"] is True
