"""ARM routes: subscriptions, machines, extensions; errors in ARM's shapes."""

from __future__ import annotations

import pytest
import requests
from sim_support import HC_API, SUB_A, SUB_B, SUB_C, SUB_D, SUB_E, Api, small_fleet

from local_stack.simulator import Fleet, FleetSimulator, Machine, Subscription, ThrottleSettings

ENABLE = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}


def machine(sim: FleetSimulator, name: str) -> Machine:
    return next(m for m in sim.fleet.machines if m.name == name)


def error(r: requests.Response) -> str:
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"]
    return body["error"]["code"]


# --- subscriptions -----------------------------------------------------------------------------------


def test_subscription_paging_with_next_link(make_sim):
    subs = [Subscription(f"00000000-0000-4000-8000-{i:012d}", f"sub-{i}") for i in range(7)]
    subs.append(Subscription("00000000-0000-4000-8000-999999999999", "hidden", readable=False))
    sim = make_sim(Fleet(subs, []), subscription_page_size=3)
    api = Api(sim.base_url)
    url, pages, items = "/subscriptions?api-version=2022-12-01", 0, []
    while url:
        r = api.get(url)
        assert r.status_code == 200
        body = r.json()
        items += body["value"]
        pages += 1
        url = body.get("nextLink")
        if url:
            assert url.startswith(sim.base_url + "/subscriptions?api-version=2022-12-01&%24skiptoken=")
    assert pages == 3
    assert [s["displayName"] for s in items] == [f"sub-{i}" for i in range(7)]
    first = items[0]
    assert first["id"] == "/subscriptions/00000000-0000-4000-8000-000000000000"
    assert first["subscriptionId"] == "00000000-0000-4000-8000-000000000000"
    assert first["state"] == "Enabled" and first["tenantId"] == sim.fleet.tenant_id


def test_subscription_list_default_page_size_and_count(make_sim):
    subs = [Subscription(f"00000000-0000-4000-8000-{i:012d}", f"sub-{i}") for i in range(60)]
    api = Api(make_sim(Fleet(subs, [])).base_url)
    body = api.get("/subscriptions?api-version=2022-12-01").json()
    assert len(body["value"]) == 50 and body["nextLink"]
    assert body["count"] == {"type": "Total", "value": 60}
    assert "count" not in api.get("/subscriptions?api-version=2020-01-01").json()


def test_subscription_states_and_visibility(api):
    body = api.get("/subscriptions?api-version=2020-01-01").json()
    states = {s["subscriptionId"]: s["state"] for s in body["value"]}
    assert states == {SUB_A: "Enabled", SUB_B: "Enabled", SUB_C: "Disabled", SUB_E: "Enabled"}


def test_get_subscription(api):
    r = api.get(f"/subscriptions/{SUB_C}?api-version=2022-12-01")
    assert r.status_code == 200 and r.json()["state"] == "Disabled"
    r = api.get(f"/subscriptions/{SUB_D}?api-version=2022-12-01")
    assert r.status_code == 403 and error(r) == "AuthorizationFailed"
    r = api.get("/subscriptions/11111111-1111-4111-8111-111111111111?api-version=2022-12-01")
    assert r.status_code == 404 and error(r) == "SubscriptionNotFound"
    r = api.get(f"/subscriptions/{SUB_A}?api-version=2015-01-01")
    assert r.status_code == 400 and error(r) == "InvalidApiVersionParameter"


# --- machines ----------------------------------------------------------------------------------------


def test_get_machine_full_resource(api, sim):
    web = machine(sim, "web-01")
    r = api.get(f"{web.id}?api-version={HC_API}")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == web.id and body["name"] == "web-01"
    assert body["type"] == "Microsoft.HybridCompute/machines" and body["location"] == "eastus"
    assert body["tags"] == {"environment": "prod"}
    props = body["properties"]
    assert props["agentVersion"] == "1.60.03293.2680" and props["status"] == "Connected"
    assert props["osType"] == "windows" and "agentUpgrade" not in props
    assert r.headers["x-ms-ratelimit-remaining-subscription-reads"] == "249"


def test_paths_are_case_insensitive(api, sim):
    web = machine(sim, "web-01")
    path = (
        f"/SUBSCRIPTIONS/{SUB_A.upper()}/resourcegroups/RG-ONE/providers/microsoft.hybridcompute/"
        f"MACHINES/WEB-01?api-version={HC_API}"
    )
    r = api.get(path)
    assert r.status_code == 200 and r.json()["id"] == web.id


def test_patch_merges_only_the_flag(api, sim):
    web = machine(sim, "web-01")
    before = api.get(f"{web.id}?api-version={HC_API}").json()
    r = api.patch(f"{web.id}?api-version={HC_API}", ENABLE)
    assert r.status_code == 200
    assert r.headers["x-ms-ratelimit-remaining-subscription-writes"] == "199"
    after = r.json()
    assert after["properties"]["agentUpgrade"] == {"enableAutomaticUpgrade": True}
    expected = dict(before["properties"], agentUpgrade={"enableAutomaticUpgrade": True})
    assert after["properties"] == expected
    assert after["tags"] == before["tags"] and after["location"] == before["location"]
    assert api.get(f"{web.id}?api-version={HC_API}").json() == after
    assert [(c.field, c.old, c.new, c.cause) for c in sim.changes] == [
        ("properties.agentUpgrade.enableAutomaticUpgrade", None, True, "patch")
    ]
    [logged] = sim.patches()
    assert logged.body == ENABLE and logged.query["api-version"] == HC_API


def test_patch_is_idempotent_and_keeps_other_agent_upgrade_members(api, sim):
    db = machine(sim, "db-01")
    db.properties["agentUpgrade"].update(lastAttemptStatus="Failed", lastAttemptMessage="boom")
    for _ in range(2):
        r = api.patch(f"{db.id}?api-version=2024-07-10", ENABLE)
        assert r.status_code == 200
    assert r.json()["properties"]["agentUpgrade"] == {
        "enableAutomaticUpgrade": True,
        "lastAttemptStatus": "Failed",
        "lastAttemptMessage": "boom",
    }
    assert len(sim.changes) == 1 and len(sim.patches()) == 2


def test_patch_ignores_read_only_fields(api, sim):
    web = machine(sim, "web-01")
    body = {
        "properties": {
            "agentVersion": "9.9",
            "status": "Disconnected",
            "lastStatusChange": "x",
            "agentUpgrade": {
                "enableAutomaticUpgrade": True,
                "lastAttemptStatus": "Success",
                "lastAttemptTimestamp": "2020-01-01T00:00:00Z",
                "lastAttemptMessage": "x",
                "lastAttemptDesiredVersion": "9.9",
            },
        }
    }
    props = api.patch(f"{web.id}?api-version={HC_API}", body).json()["properties"]
    assert props["agentVersion"] == "1.60.03293.2680" and props["status"] == "Connected"
    assert props["agentUpgrade"] == {"enableAutomaticUpgrade": True}


def test_patch_tags_and_null_removes(api, sim):
    web = machine(sim, "web-01")
    api.patch(f"{web.id}?api-version={HC_API}", ENABLE)
    r = api.patch(
        f"{web.id}?api-version={HC_API}",
        {"tags": {"owner": "me"}, "properties": {"agentUpgrade": {"enableAutomaticUpgrade": None}}},
    )
    assert r.json()["tags"] == {"owner": "me"}
    assert "agentUpgrade" not in r.json()["properties"]


def test_legacy_api_version_ignores_agent_upgrade(api, sim):
    web = machine(sim, "web-01")
    r = api.patch(f"{web.id}?api-version=2022-11-10", ENABLE)
    assert r.status_code == 200 and "agentUpgrade" not in r.json()["properties"]
    assert "agentUpgrade" not in api.get(f"{web.id}?api-version={HC_API}").json()["properties"]


@pytest.mark.parametrize(
    "body",
    ["not json", [1, 2], {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": "yes"}}}, {"properties": "x"}],
)
def test_patch_bad_body_is_400(api, sim, body):
    web = machine(sim, "web-01")
    if isinstance(body, str):
        r = api.session.patch(
            api.base_url + f"{web.id}?api-version={HC_API}",
            data=body,
            headers=dict(api.headers(), **{"Content-Type": "application/json"}),
        )
    else:
        r = api.patch(f"{web.id}?api-version={HC_API}", body)
    assert r.status_code == 400 and error(r) == "InvalidRequestContent"
    assert sim.changes == []


@pytest.mark.parametrize(
    "name,status,code",
    [
        ("b-01", 403, "AuthorizationFailed"),  # subscription write-forbidden
        ("forbidden-01", 403, "AuthorizationFailed"),  # machine write-forbidden
        ("locked-01", 409, "ScopeLocked"),  # lock on the machine
        ("e-01", 409, "ScopeLocked"),  # lock on its resource group
        ("c-01", 409, "ReadOnlyDisabledSubscription"),
        ("d-01", 403, "AuthorizationFailed"),  # cannot even read
    ],
)
def test_patch_refusals(api, sim, name, status, code):
    m = machine(sim, name)
    r = api.patch(f"{m.id}?api-version={HC_API}", ENABLE)
    assert (r.status_code, error(r)) == (status, code)
    assert sim.changes == [] and sim.patches() == []
    if name != "d-01":
        assert api.get(f"{m.id}?api-version={HC_API}").status_code == 200  # reads still work
    assert (
        machine(sim, "e-02") and api.patch(f"{machine(sim, 'e-02').id}?api-version={HC_API}", ENABLE).status_code == 200
    )


def test_not_found_paths(api):
    base = f"/subscriptions/{SUB_A}/resourceGroups"
    r = api.get(f"{base}/rg-one/providers/Microsoft.HybridCompute/machines/nope?api-version={HC_API}")
    assert r.status_code == 404 and error(r) == "ResourceNotFound"
    r = api.patch(f"{base}/rg-one/providers/Microsoft.HybridCompute/machines/nope?api-version={HC_API}", ENABLE)
    assert r.status_code == 404 and error(r) == "ResourceNotFound"
    r = api.get(f"{base}/rg-nope/providers/Microsoft.HybridCompute/machines/web-01?api-version={HC_API}")
    assert r.status_code == 404 and error(r) == "ResourceGroupNotFound"
    r = api.get(
        "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg/providers/"
        f"Microsoft.HybridCompute/machines/x?api-version={HC_API}"
    )
    assert r.status_code == 404 and error(r) == "SubscriptionNotFound"
    r = api.get(f"/nothing/here?api-version={HC_API}")
    assert r.status_code == 404 and error(r) == "NotFound"


@pytest.mark.parametrize(
    "version,ok",
    [
        ("2022-12-27", True),
        ("2024-07-10", True),
        ("2025-01-13", True),
        ("2026-07-15", True),
        ("2024-05-20-preview", True),
        ("2026-06-16-preview", True),
        ("2021-13-01", False),
        ("2025-01-14", False),
    ],
)
def test_hybridcompute_api_versions(api, sim, version, ok):
    web = machine(sim, "web-01")
    for r in (api.get(f"{web.id}?api-version={version}"), api.patch(f"{web.id}?api-version={version}", ENABLE)):
        if ok:
            assert r.status_code == 200
        else:
            assert r.status_code == 400 and error(r) == "NoRegisteredProviderFound"
            assert version in r.json()["error"]["message"]


def test_missing_api_version(api, sim):
    r = api.get(machine(sim, "web-01").id)
    assert r.status_code == 400 and error(r) == "MissingApiVersionParameter"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer   ", "Basic abc", "dev"])
def test_authorization_required(sim, header):
    headers = {} if header is None else {"Authorization": header}
    for method, path in (
        ("GET", "/subscriptions?api-version=2022-12-01"),
        ("PATCH", f"{machine(sim, 'web-01').id}?api-version={HC_API}"),
    ):
        r = requests.request(method, sim.base_url + path, headers=headers, json=ENABLE)
        assert r.status_code == 401 and error(r) == "AuthenticationFailed"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert sim.changes == []


def test_write_bucket_throttles_with_retry_after(make_sim):
    sim = make_sim(throttling=ThrottleSettings(write_burst=5, write_refill_per_second=0.2))
    api = Api(sim.base_url)
    web = machine(sim, "web-01")
    results = [api.patch(f"{web.id}?api-version={HC_API}", ENABLE) for _ in range(6)]
    assert [r.status_code for r in results] == [200] * 5 + [429]
    assert [r.headers["x-ms-ratelimit-remaining-subscription-writes"] for r in results[:5]] == ["4", "3", "2", "1", "0"]
    assert error(results[5]) == "TooManyRequests"
    assert 1 <= int(results[5].headers["Retry-After"]) <= 5
    # buckets are per subscription: another subscription still has budget
    assert api.patch(f"{machine(sim, 'e-02').id}?api-version={HC_API}", ENABLE).status_code == 200
    assert len(sim.patches()) == 6


def test_read_bucket_and_throttle_scale(make_sim):
    sim = make_sim(throttle_scale=0.02)  # reads 250 -> 5, writes 200 -> 4
    api = Api(sim.base_url)
    web = machine(sim, "web-01")
    codes = [api.get(f"{web.id}?api-version={HC_API}").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    sim.set_throttling(scale=1.0)
    assert api.get(f"{web.id}?api-version={HC_API}").status_code == 200


def test_extensions(api, sim):
    web = machine(sim, "web-01")
    r = api.get(f"{web.id}/extensions?api-version={HC_API}")
    assert r.status_code == 200
    value = r.json()["value"]
    assert [e["name"] for e in value] == ["AzureMonitorWindowsAgent", "MDE.Windows"]
    first = value[0]
    assert first["id"] == f"{web.id}/extensions/AzureMonitorWindowsAgent"
    assert first["type"] == "Microsoft.HybridCompute/machines/extensions"
    assert first["properties"]["publisher"] == "Microsoft.Azure.Monitor"
    assert first["properties"]["enableAutomaticUpgrade"] is True
    one = api.get(f"{web.id}/extensions/azuremonitorwindowsagent?api-version={HC_API}")
    assert one.status_code == 200 and one.json() == first
    missing = api.get(f"{web.id}/extensions/nope?api-version={HC_API}")
    assert missing.status_code == 404 and error(missing) == "ResourceNotFound"


def test_list_machines_in_resource_group(api, sim):
    r = api.get(
        f"/subscriptions/{SUB_A}/resourceGroups/rg-two/providers/Microsoft.HybridCompute/machines?api-version={HC_API}"
    )
    assert sorted(m["name"] for m in r.json()["value"]) == ["app-01", "forbidden-01", "locked-01"]


def test_request_log(api, sim):
    web = machine(sim, "web-01")
    api.get(f"{web.id}?api-version={HC_API}")
    api.patch(f"{web.id}?api-version={HC_API}", ENABLE)
    assert [(r.method, r.path, r.status) for r in sim.requests] == [("GET", web.id, 200), ("PATCH", web.id, 200)]
    assert sim.requests[0].at >= sim.fleet.created_at and sim.requests[0].caller
    assert sim.machine(web.id)["properties"]["agentUpgrade"] == {"enableAutomaticUpgrade": True}
    sim.reset_log()
    assert sim.requests == [] and sim.changes == [] and sim.patches() == []
    with pytest.raises(KeyError):
        sim.machine(f"/subscriptions/{SUB_A}/resourceGroups/x/providers/Microsoft.HybridCompute/machines/y")


def test_small_fleet_rejects_bad_names():
    with pytest.raises(ValueError):
        Machine.build(SUB_A, "rg", "bad name with spaces")
    with pytest.raises(ValueError):
        Machine.build(SUB_A, "rg", "x" * 55)
    with pytest.raises(ValueError):
        small_fleet([Machine.build(SUB_A, "RG-ONE", "WEB-01")])  # duplicate, ARM names are case-insensitive


# --- transient conflicts (another writer) ------------------------------------------------------------


@pytest.mark.parametrize("code", ["Conflict", "AnotherOperationInProgress"])
def test_conflicts_pass_after_k_attempts(make_sim, code):
    busy = Machine.build(SUB_A, "rg-one", "busy-01", write_conflicts=2, conflict_code=code)
    sim = make_sim(small_fleet([busy]))
    api = Api(sim.base_url)
    url = f"{busy.id}?api-version={HC_API}"
    first, second, third = (api.patch(url, ENABLE) for _ in range(3))
    assert [(r.status_code, r.status_code == 409 and error(r)) for r in (first, second)] == [(409, code)] * 2
    assert "another operation" in first.json()["error"]["message"]
    assert third.status_code == 200 and third.json()["properties"]["agentUpgrade"]["enableAutomaticUpgrade"]
    assert len(sim.patches()) == 1 and len(sim.changes) == 1
    assert api.patch(url, ENABLE).status_code == 200  # and stays writable


def test_locks_stay_locked_whatever_the_conflicts(make_sim):
    held = Machine.build(SUB_A, "rg-one", "held-01", locked=True, write_conflicts=1)
    sim = make_sim(small_fleet([held]))
    api = Api(sim.base_url)
    codes = [error(api.patch(f"{held.id}?api-version={HC_API}", ENABLE)) for _ in range(4)]
    assert codes == ["ScopeLocked"] * 4 and sim.changes == []


def test_a_conflict_is_not_a_lock():
    with pytest.raises(ValueError):
        Machine.build(SUB_A, "rg-one", "x", write_conflicts=1, conflict_code="ScopeLocked")
