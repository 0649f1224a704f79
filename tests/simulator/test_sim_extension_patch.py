"""PATCH of a machine extension: ARM's scope checks, MachineExtensionUpdate's members, merge semantics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sim_support import HC_API, SUB_A, SUB_B, SUB_C, SUB_D, SUB_E, T0, Api, encoded, small_fleet

from local_stack.simulator import Extension, ExtensionBehaviour, FleetSimulator, Machine, ThrottleSettings

ENABLE = {"properties": {"enableAutomaticUpgrade": True}}
AMA = ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent")
OPTED_OUT = dict(auto_upgrade=False, behaviour=ExtensionBehaviour(delay=timedelta(days=1)))


def _ext(name: str = "AzureMonitorWindowsAgent", version: str = "1.30.0.0", **kw) -> Extension:
    return Extension.build(*AMA, version, name=name, **{**OPTED_OUT, **kw})


def _machine(sub: str, rg: str, name: str, **kw) -> Machine:
    return Machine.build(sub, rg, name, os_type="windows", extensions=[_ext()], **kw)


@pytest.fixture
def ext_sim(make_sim):
    extra = [
        _machine(SUB_A, "rg-ext", "win-01", tags={"environment": "prod"}),
        _machine(SUB_A, "rg-ext", "held", locked=True),
        _machine(SUB_A, "rg-ext", "no-write", write_forbidden=True),
        _machine(SUB_B, "rg-ext", "b-ext"),
        _machine(SUB_C, "rg-ext", "c-ext"),
        _machine(SUB_D, "rg-ext", "d-ext"),
        _machine(SUB_E, "rg-locked", "e-ext"),
    ]
    sim = make_sim(small_fleet(extra))
    return sim, Api(sim.base_url)


def url(sim: FleetSimulator, machine: str, ext: str = "AzureMonitorWindowsAgent", api: str = HC_API) -> str:
    m = next(m for m in sim.fleet.machines if m.name == machine)
    return f"{encoded(m.id)}/extensions/{ext}?api-version={api}"


def code(r) -> str:
    return r.json()["error"]["code"]


def test_patch_merges_only_the_flag_and_returns_the_whole_extension(ext_sim):
    sim, api = ext_sim
    before = api.get(url(sim, "win-01")).json()
    r = api.patch(url(sim, "win-01"), ENABLE)
    assert r.status_code == 200, r.text
    assert r.headers["x-ms-ratelimit-remaining-subscription-writes"] == "199"
    after = r.json()
    assert after == dict(before, properties=dict(before["properties"], enableAutomaticUpgrade=True))
    assert set(after) == {"id", "name", "type", "location", "properties"}
    assert after["type"] == "Microsoft.HybridCompute/machines/extensions"
    assert api.get(url(sim, "win-01")).json() == after
    machine = next(m for m in sim.fleet.machines if m.name == "win-01")
    ext_id = f"{machine.id}/extensions/AzureMonitorWindowsAgent"
    assert sim.extension(ext_id.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")) == after
    assert [(c.field, c.old, c.new, c.cause, c.resource_id) for c in sim.changes] == [
        ("extensions/AzureMonitorWindowsAgent.properties.enableAutomaticUpgrade", False, True, "patch", ext_id)
    ]
    [logged] = sim.patches()
    assert logged.body == ENABLE and logged.path == ext_id
    assert sim.patch_targets(resource="extension") == {ext_id} and sim.patch_targets(resource="machine") == set()
    assert api.patch(url(sim, "win-01"), ENABLE).status_code == 200 and len(sim.changes) == 1  # idempotent


def test_enabling_starts_the_platforms_clock_and_disabling_stops_it(ext_sim):
    sim, api = ext_sim
    sim.clock.advance_to(T0 + timedelta(days=5))  # opted out all along: nothing happened
    assert api.get(url(sim, "win-01")).json()["properties"]["typeHandlerVersion"] == "1.30.0.0"
    assert api.patch(url(sim, "win-01"), ENABLE).status_code == 200  # just after 12:00 on the 20th
    sim.clock.advance_to(T0 + timedelta(days=6, minutes=59))
    assert api.get(url(sim, "win-01")).json()["properties"]["typeHandlerVersion"] == "1.30.0.0"
    sim.clock.advance_to(T0 + timedelta(days=6, hours=1))  # the first whole hour a day after the PATCH
    assert api.get(url(sim, "win-01")).json()["properties"]["typeHandlerVersion"] == "1.34.0.0"

    assert api.patch(url(sim, "win-01"), {"properties": {"enableAutomaticUpgrade": None}}).status_code == 200
    assert "enableAutomaticUpgrade" not in api.get(url(sim, "win-01")).json()["properties"]  # absent: opted in


def test_opting_out_before_the_slot_cancels_the_upgrade(make_sim):
    machine = _machine(SUB_A, "rg-ext", "flip")
    sim = make_sim(small_fleet([machine]))
    api = Api(sim.base_url)
    assert api.patch(url(sim, "flip"), ENABLE).status_code == 200
    sim.clock.advance_to(T0 + timedelta(hours=12))
    assert api.patch(url(sim, "flip"), {"properties": {"enableAutomaticUpgrade": False}}).status_code == 200
    sim.clock.advance_to(T0 + timedelta(days=10))
    assert api.get(url(sim, "flip")).json()["properties"]["typeHandlerVersion"] == "1.30.0.0"


@pytest.mark.parametrize(
    "machine,status,error",
    [
        ("held", 409, "ScopeLocked"),  # lock on the machine covers its extensions
        ("e-ext", 409, "ScopeLocked"),  # lock on the resource group
        ("no-write", 403, "AuthorizationFailed"),
        ("b-ext", 403, "AuthorizationFailed"),  # no write in the subscription
        ("c-ext", 409, "ReadOnlyDisabledSubscription"),
        ("d-ext", 403, "AuthorizationFailed"),  # cannot even read there
    ],
)
def test_refusals_have_arms_codes_and_change_nothing(ext_sim, machine, status, error):
    sim, api = ext_sim
    r = api.patch(url(sim, machine), ENABLE)
    assert (r.status_code, code(r)) == (status, error)
    assert sim.changes == [] and sim.patch_targets(resource="extension", succeeded=True) == set()
    message = r.json()["error"]["message"]
    if error == "AuthorizationFailed":
        assert "'Microsoft.HybridCompute/machines/extensions/write'" in message
        assert "/extensions/AzureMonitorWindowsAgent'" in message
    if machine == "held":
        assert message.endswith(
            "are locked: '"
            + next(m for m in sim.fleet.machines if m.name == "held").id
            + "'. Please remove the lock and try again."
        )


def test_unknown_machine_extension_group_and_subscription_are_404(ext_sim):
    sim, api = ext_sim
    rg = f"/subscriptions/{SUB_A}/resourceGroups/rg-ext/providers/Microsoft.HybridCompute/machines"
    cases = {
        f"{rg}/nobody/extensions/AzureMonitorWindowsAgent": "ParentResourceNotFound",
        f"{rg}/win-01/extensions/NoSuchExtension": "ResourceNotFound",
        f"/subscriptions/{SUB_A}/resourceGroups/rg-none/providers/Microsoft.HybridCompute/machines/win-01"
        f"/extensions/AzureMonitorWindowsAgent": "ResourceGroupNotFound",
        "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/rg-ext/providers/"
        "Microsoft.HybridCompute/machines/win-01/extensions/x": "SubscriptionNotFound",
    }
    for path, error in cases.items():
        r = api.patch(f"{path}?api-version={HC_API}", ENABLE)
        assert (r.status_code, code(r)) == (404, error), path
        assert api.get(f"{path}?api-version={HC_API}").status_code == 404
    assert sim.changes == []


def test_names_compare_as_arm_does(ext_sim):
    sim, api = ext_sim
    r = api.patch(url(sim, "win-01", "azuremonitorwindowsagent").replace("/rg-ext/", "/RG-EXT/"), ENABLE)
    assert r.status_code == 200 and r.json()["name"] == "AzureMonitorWindowsAgent"
    assert sim.changes[0].field == "extensions/AzureMonitorWindowsAgent.properties.enableAutomaticUpgrade"


def test_names_with_dots_and_spaces_percent_encoded(make_sim):
    odd = Extension.build(
        "Microsoft.Compute", "CustomScriptExtension", "1.10.12", name="boot strap.v2#1", auto_upgrade=False
    )
    machine = Machine.build(SUB_A, "rg-ext", "srv.corp.contoso.com", os_type="windows", extensions=[odd])
    sim = make_sim(small_fleet([machine]))
    r = Api(sim.base_url).patch(f"{encoded(machine.extension_id(odd))}?api-version={HC_API}", ENABLE)
    assert r.status_code == 200 and r.json()["id"] == machine.extension_id(odd)
    assert sim.patch_targets(resource="extension") == {machine.extension_id(odd)}


@pytest.mark.parametrize(
    "properties,error",
    [
        ({"provisioningState": "Succeeded"}, "InvalidRequestContent"),  # read-only
        ({"instanceView": {"status": {"level": "Information"}}}, "InvalidRequestContent"),  # not an update member
        ({"enableAutomaticUpgrade": True, "somethingElse": 1}, "InvalidRequestContent"),
        ({"enableAutomaticUpgrade": "true"}, "InvalidRequestContent"),
        ({"autoUpgradeMinorVersion": 1}, "InvalidRequestContent"),
        ({"settings": "x"}, "InvalidRequestContent"),
        ({"type": "AzureMonitorLinuxAgent"}, "PropertyChangeNotAllowed"),
        ({"publisher": "Contoso"}, "PropertyChangeNotAllowed"),
        ({"typeHandlerVersion": None}, "InvalidRequestContent"),
    ],
)
def test_only_machine_extension_update_members_are_accepted(ext_sim, properties, error):
    sim, api = ext_sim
    r = api.patch(url(sim, "win-01"), {"properties": properties})
    assert (r.status_code, code(r)) == (400, error), r.text
    if "provisioningState" in properties:
        assert r.json()["error"]["message"].endswith(
            "Could not find member 'provisioningState' on object of type 'MachineExtensionUpdateProperties'. "
            "Path 'properties.provisioningState'."
        )
    assert sim.changes == []


def test_bodies_that_are_not_an_object_are_400(ext_sim):
    sim, api = ext_sim
    for body in ([1], "x", {"properties": [1]}, {"tags": {"a": 1}}):
        assert code(api.patch(url(sim, "win-01"), body)) == "InvalidRequestContent", body


def test_writable_members_merge(ext_sim):
    sim, api = ext_sim
    body = {
        "tags": {"owner": "ops"},
        "properties": {
            "settings": {"workspaceId": "w-1", "proxy": {"mode": "none"}},
            "protectedSettings": {"key": "secret"},
            "forceUpdateTag": "2",
            "autoUpgradeMinorVersion": True,
            "publisher": "MICROSOFT.AZURE.MONITOR",
        },
    }
    assert api.patch(url(sim, "win-01"), body).status_code == 200
    r = api.patch(url(sim, "win-01"), {"properties": {"settings": {"proxy": None, "extra": 1}}})
    props = r.json()["properties"]
    assert props["settings"] == {"workspaceId": "w-1", "extra": 1}
    assert props["forceUpdateTag"] == "2" and props["autoUpgradeMinorVersion"] is True
    assert props["publisher"] == "Microsoft.Azure.Monitor" and "protectedSettings" not in props
    assert r.json()["tags"] == {"owner": "ops"}
    assert "secret" not in str([(c.old, c.new) for c in sim.changes])
    pinned = api.patch(url(sim, "win-01"), {"properties": {"typeHandlerVersion": "1.32.0.0"}}).json()["properties"]
    assert pinned["typeHandlerVersion"] == pinned["instanceView"]["typeHandlerVersion"] == "1.32.0.0"


def test_api_version_throttling_and_faults_apply(make_sim):
    machine = _machine(SUB_A, "rg-ext", "win-01")
    sim = make_sim(small_fleet([machine]), throttling=ThrottleSettings(write_burst=2, write_refill_per_second=0.01))
    api = Api(sim.base_url)
    bad = api.patch(url(sim, "win-01", api="2015-01-01"), ENABLE)
    assert (bad.status_code, code(bad)) == (400, "NoRegisteredProviderFound")
    assert api.patch(url(sim, "win-01", api="2024-07-10"), ENABLE).status_code == 200
    other = Machine.build(SUB_A, "rg-one", "web-01")  # the machine PATCHes share the subscription's bucket
    assert api.patch(f"{other.id}?api-version={HC_API}", {"properties": {}}).status_code == 200
    throttled = api.patch(url(sim, "win-01"), ENABLE)
    assert (throttled.status_code, code(throttled)) == (429, "TooManyRequests")
    assert int(throttled.headers["Retry-After"]) >= 1
    sim.set_throttling(ThrottleSettings())
    sim.set_faults(patch=1.0)
    assert api.patch(url(sim, "win-01"), ENABLE).status_code in (500, 503)
    assert [r.status for r in sim.requests] == [400, 200, 200, 429, 500 if sim.requests[-1].status == 500 else 503]
