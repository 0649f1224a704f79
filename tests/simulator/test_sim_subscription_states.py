"""Subscription states as ARM serves them (reference §13a): who can read, who can write, who is gone."""

from __future__ import annotations

import pytest
from sim_support import HC_API, MACHINES_QUERY, T0, Api

from local_stack.simulator import Fleet, FleetSpec, Machine, Subscription, generate_fleet

ENABLE = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}
STATES = ("Enabled", "Warned", "PastDue", "Disabled", "Expired", "Deleted")
SUBS = {state: f"00000000-0000-4000-8000-5{i:011d}" for i, state in enumerate(STATES)}


def _fleet() -> Fleet:
    subs = [Subscription(sub, f"{state} sub", state=state) for state, sub in SUBS.items()]
    machines = [Machine.build(sub, "rg-x", f"m-{state.lower()}") for state, sub in SUBS.items()]
    return Fleet(subs, machines, created_at=T0)


def _machine_url(state: str) -> str:
    return (
        f"/subscriptions/{SUBS[state]}/resourceGroups/rg-x/providers/Microsoft.HybridCompute/machines/"
        f"m-{state.lower()}?api-version={HC_API}"
    )


@pytest.fixture
def states_api(make_sim):
    sim = make_sim(_fleet())
    return sim, Api(sim.base_url)


def test_list_returns_state_verbatim_and_omits_deleted(states_api):
    _, api = states_api
    body = api.get("/subscriptions?api-version=2022-12-01").json()
    assert {s["subscriptionId"]: s["state"] for s in body["value"]} == {SUBS[s]: s for s in STATES if s != "Deleted"}


@pytest.mark.parametrize("state", [s for s in STATES if s != "Deleted"])
def test_get_subscription_returns_state_verbatim(states_api, state):
    _, api = states_api
    r = api.get(f"/subscriptions/{SUBS[state]}?api-version=2022-12-01")
    assert r.status_code == 200 and r.json()["state"] == state


def test_deleted_subscription_has_no_operations(states_api):
    sim, api = states_api
    sub = SUBS["Deleted"]
    for r in (
        api.get(f"/subscriptions/{sub}?api-version=2022-12-01"),
        api.get(f"/subscriptions/{sub}/providers/Microsoft.HybridCompute/machines?api-version={HC_API}"),
        api.get(_machine_url("Deleted")),
        api.patch(_machine_url("Deleted"), ENABLE),
    ):
        assert r.status_code == 404 and r.json()["error"]["code"] == "SubscriptionNotFound"
    assert sim.changes == []


def test_deleted_subscriptions_can_be_kept_in_the_list(make_sim):
    sim = make_sim(_fleet(), list_deleted_subscriptions=True)
    api = Api(sim.base_url)
    listed = {s["subscriptionId"]: s["state"] for s in api.get("/subscriptions?api-version=2022-12-01").json()["value"]}
    assert listed[SUBS["Deleted"]] == "Deleted"
    assert api.get(f"/subscriptions/{SUBS['Deleted']}?api-version=2022-12-01").json()["state"] == "Deleted"
    assert api.get(_machine_url("Deleted")).status_code == 404  # still nothing inside


@pytest.mark.parametrize(
    "state,status,code",
    [
        ("Enabled", 200, ""),
        ("Warned", 200, ""),
        ("PastDue", 200, ""),
        ("Disabled", 409, "ReadOnlyDisabledSubscription"),
        ("Expired", 409, "ReadOnlyDisabledSubscription"),
    ],
)
def test_reads_always_writes_only_when_active(states_api, state, status, code):
    sim, api = states_api
    assert api.get(_machine_url(state)).status_code == 200
    assert (
        api.get(
            f"/subscriptions/{SUBS[state]}/providers/Microsoft.HybridCompute/machines?api-version={HC_API}"
        ).status_code
        == 200
    )
    r = api.patch(_machine_url(state), ENABLE)
    assert r.status_code == status
    if code:
        assert r.json()["error"]["code"] == code and "read only" in r.json()["error"]["message"]
        assert sim.changes == [] and sim.patches() == []
    else:
        assert r.json()["properties"]["agentUpgrade"]["enableAutomaticUpgrade"] is True


def test_resource_graph_shows_readable_states_not_deleted(states_api):
    _, api = states_api
    rows = api.query(MACHINES_QUERY).json()["data"]
    assert sorted(r["name"] for r in rows) == sorted(f"m-{s.lower()}" for s in STATES if s != "Deleted")
    scoped = api.query(MACHINES_QUERY, subscriptions=[SUBS["Deleted"], SUBS["Disabled"]]).json()["data"]
    assert [r["name"] for r in scoped] == ["m-disabled"]
    containers = api.query(
        "resourcecontainers | where type =~ 'microsoft.resources/subscriptions' "
        "| project id, state = tostring(properties.state)"
    ).json()["data"]
    assert {r["state"] for r in containers} == set(STATES) - {"Deleted"}


def test_unknown_state_is_refused():
    with pytest.raises(ValueError):
        Subscription("00000000-0000-4000-8000-000000000001", "x", state="Suspended")


def test_generator_places_expired_and_deleted_subscriptions():
    fleet = generate_fleet(
        FleetSpec(seed=3, subscriptions=10, machines=50, expired_subscriptions=1, deleted_subscriptions=1)
    )
    states = sorted(s.state for s in fleet.subscriptions)
    assert states.count("Expired") == 1 and states.count("Deleted") == 1
    assert generate_fleet(FleetSpec(seed=3, subscriptions=10, machines=50)).subscriptions[0].state == "Enabled"
