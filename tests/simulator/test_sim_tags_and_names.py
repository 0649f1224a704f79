"""Odd but legal: tag name casing, tag values as written, Unicode resource groups, percent-encoded paths."""

from __future__ import annotations

import pytest
import requests
from sim_support import HC_API, PRODUCT_QUERY, SUB_A, T0, Api, all_pages, encoded, small_fleet

from local_stack.simulator import FleetSpec, Machine, generate_fleet
from local_stack.simulator.fates import LEAVE, PATCH
from local_stack.simulator.fleet import name_key
from local_stack.simulator.malformed import KINDS, corrupt_arg_ids, malformed_id
from local_stack.simulator.odd_estate import ACCENTED_GROUP, CJK_GROUP, MACHINE_NAMES

ENABLE = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}
TAGGED = {
    "tag-lower": {"arc-sweeper": "exclude"},
    "tag-title": {"Arc-Sweeper": "Exclude"},
    "tag-upper": {"ARC-SWEEPER": " exclude "},
    "tag-mixed": {"aRc-SwEePeR": "EXCLUDE", "Owner": "Ops Team"},
}


# --- tags --------------------------------------------------------------------------------------------


@pytest.fixture
def tagged(make_sim):
    extra = [Machine.build(SUB_A, "rg-tags", name, tags=tags) for name, tags in TAGGED.items()]
    sim = make_sim(small_fleet(extra))
    return sim, Api(sim.base_url)


def test_tags_come_back_as_written_from_arm_and_resource_graph(tagged):
    sim, api = tagged
    rows = {r["name"]: r for r in api.query(PRODUCT_QUERY, subscriptions=[SUB_A]).json()["data"]}
    for name, tags in TAGGED.items():
        machine = next(m for m in sim.fleet.machines if m.name == name)
        assert api.get(f"{machine.id}?api-version={HC_API}").json()["tags"] == tags
        assert rows[name]["tags"] == tags  # names keep their case, values their spaces


def test_a_patch_leaves_tags_as_written(tagged):
    sim, api = tagged
    machine = next(m for m in sim.fleet.machines if m.name == "tag-upper")
    assert api.patch(f"{machine.id}?api-version={HC_API}", ENABLE).json()["tags"] == {"ARC-SWEEPER": " exclude "}


@pytest.mark.parametrize(
    "tags",
    [
        {"arc-sweeper": "exclude", "ARC-SWEEPER": "keep"},  # one name to Azure
        {"a/b": "x"},
        {"a?b": "x"},
        {"50%": "x"},
        {"": "x"},  # forbidden characters, empty name
        {"n" * 513: "x"},
        {"name": "v" * 257},  # too long
        {f"t{i}": "x" for i in range(51)},  # more than 50
    ],
)
def test_tags_azure_would_refuse_are_rejected(tags):
    with pytest.raises(ValueError):
        Machine.build(SUB_A, "rg", "m", tags=tags)


def test_tags_at_the_limits_are_accepted():
    tags = {f"t{i}": "x" for i in range(49)}
    tags["n" * 512] = " " + "v" * 254 + " "
    assert len(Machine.build(SUB_A, "rg", "m", tags=tags).tags) == 50


# --- names and percent-encoded paths -----------------------------------------------------------------

ACCENTED, CJK = ACCENTED_GROUP, CJK_GROUP
ODD_GROUPS = (ACCENTED, CJK, "rg_(prod)-eu.west.1", "Ресурсы-Прод", "x", "1234")
LONGEST_MACHINE = MACHINE_NAMES[0]


@pytest.fixture
def odd_names(make_sim):
    extra = [Machine.build(SUB_A, rg, f"m-{i}") for i, rg in enumerate(ODD_GROUPS)]
    extra.append(Machine.build(SUB_A, "rg-one", LONGEST_MACHINE))
    sim = make_sim(small_fleet(extra))
    return sim, Api(sim.base_url), extra


def test_odd_names_are_legal():
    assert len(ACCENTED) == 90 and 45 <= len(CJK) <= 55 and len(LONGEST_MACHINE) == 54


@pytest.mark.parametrize("rg", [ACCENTED + "a", "rg.", "rg/x", "rg x", "rg\n", "", "a#b"])
def test_illegal_resource_groups_are_refused(rg):
    with pytest.raises(ValueError):
        Machine.build(SUB_A, rg, "m")


@pytest.mark.parametrize("name", ["m" * 55, "web\n", "wéb", "a b", "a(b)", ""])
def test_illegal_machine_names_are_refused(name):
    with pytest.raises(ValueError):
        Machine.build(SUB_A, "rg", name)


def test_percent_encoded_paths_reach_unicode_resource_groups(odd_names):
    sim, api, machines = odd_names
    for machine in machines:
        url = f"{encoded(machine.id)}?api-version={HC_API}"
        r = api.get(url)
        assert r.status_code == 200, (machine.resource_group, r.text)
        assert r.json()["id"] == machine.id
        assert api.patch(url, ENABLE).status_code == 200
        assert sim.requests[-1].path == machine.id  # logged decoded
    assert len(sim.patches()) == len(machines)


def test_resource_group_names_compare_case_insensitively(odd_names):
    _, api, machines = odd_names
    cased = [m for m in machines if name_key(m.resource_group) != m.resource_group]
    assert len(cased) == len(machines) - 2  # all but CJK and digits
    for machine in cased:
        shouted = machine.id.replace(machine.resource_group, name_key(machine.resource_group))
        r = api.get(f"{encoded(shouted)}?api-version={HC_API}")
        assert r.status_code == 200 and r.json()["id"] == machine.id
    # one-to-one case mapping, as .NET's OrdinalIgnoreCase: "ß" is not "SS"
    assert name_key(ACCENTED).count("ß") == 9 and "SS" in ACCENTED.upper()
    full_upper = machines[0].id.replace(ACCENTED, ACCENTED.upper())
    assert api.get(f"{encoded(full_upper)}?api-version={HC_API}").status_code == 404


def test_lists_and_resource_graph_carry_unicode_names(odd_names):
    sim, api, machines = odd_names
    accented = machines[0]
    r = api.get(f"{encoded(accented.id.rsplit('/', 1)[0])}?api-version={HC_API}")
    assert [m["id"] for m in r.json()["value"]] == [accented.id]
    rows = {r["id"]: r for r in api.query(PRODUCT_QUERY, subscriptions=[SUB_A], **{"$top": 1000}).json()["data"]}
    for machine in machines:
        assert rows[machine.id]["resourceGroup"] == machine.resource_group.lower()


def test_next_links_of_unicode_resource_groups_work(make_sim):
    machines = [Machine.build(SUB_A, CJK, f"m-{i}") for i in range(3)]
    sim = make_sim(small_fleet(machines), machine_page_size=1)
    api = Api(sim.base_url)
    url, names = f"{encoded(machines[0].id.rsplit('/', 1)[0])}?api-version={HC_API}", []
    while url:
        body = api.get(url).json()
        names += [m["name"] for m in body["value"]]
        url = body.get("nextLink")
        assert url is None or url.isascii()
    assert names == ["m-0", "m-1", "m-2"]


# --- malformed ids from Resource Graph (a fault) ------------------------------------------------------


def test_malformed_ids_in_resource_graph(make_sim):
    sim = make_sim(small_fleet([Machine.build(SUB_A, "rg-many", f"many-{i}") for i in range(10)]))
    corrupted = sim.corrupt_arg_ids(seed=3)
    assert set(corrupted) == set(KINDS) and len({m.id for m in corrupted.values()}) == len(KINDS)
    api = Api(sim.base_url)
    rows = api.query(PRODUCT_QUERY, **{"$top": 1000}).json()["data"]
    reported = {r["name"]: r["id"] for r in rows}
    for kind, machine in corrupted.items():
        bad = reported[machine.name]
        assert bad != machine.id and bad == malformed_id(machine, kind), kind
        assert api.get(f"{encoded(machine.id)}?api-version={HC_API}").json()["id"] == machine.id  # ARM unchanged
    foreign = corrupted["foreign-subscription"]
    assert reported[foreign.name].split("/")[2] not in {s.subscription_id for s in sim.fleet.subscriptions}
    assert reported[corrupted["control-character"].name].count("\x07") == 1
    assert reported[corrupted["whitespace"].name] != reported[corrupted["whitespace"].name].strip()
    assert reported[corrupted["dot-dot"].name].count("/../") == 1
    assert "/./providers/" in reported[corrupted["dot-segment"].name]
    assert "/Microsoft.Compute/virtualMachines/" in reported[corrupted["other-type"].name]
    assert [r for r in rows if r["id"] == reported[foreign.name]]  # still in the answer, though out of scope


def test_malformed_ids_are_seeded_and_checked(make_sim):
    def pick(seed):
        return {k: m.name for k, m in corrupt_arg_ids(small_fleet(), ["fragment", "other-type"], seed=seed).items()}

    assert pick(1) == pick(1)
    with pytest.raises(ValueError):
        corrupt_arg_ids(small_fleet(), ["nonsense"])
    with pytest.raises(ValueError):
        corrupt_arg_ids(small_fleet(), list(KINDS) * 2)  # more kinds than machines


def test_the_fate_ledger_catches_a_sweep_that_follows_malformed_ids(make_sim):
    fleet = generate_fleet(FleetSpec(seed=3, subscriptions=3, machines=300, now=T0))
    due = [m for m in fleet.machines if fleet.fates[m.id].expect == PATCH]
    corrupted = corrupt_arg_ids(fleet, candidates=due, seed=1)
    assert all(
        fleet.fates[m.id].expect == LEAVE and "malformed" in fleet.fates[m.id].reason for m in corrupted.values()
    )
    sim = make_sim(fleet)
    api = Api(sim.base_url)
    reported = {r["name"]: r["id"] for r in all_pages(api, PRODUCT_QUERY, top=1000)[0]}
    sent = 0
    for machine in corrupted.values():  # a naive sweep: the row's id, pasted into the URL
        try:
            api.patch(f"{reported[machine.name]}?api-version={HC_API}", ENABLE)
            sent += 1
        except requests.RequestException:  # " id\t" is not even a URL
            pass
    problems = [
        p
        for p in fleet.fates.check(sent=sim.patch_targets(), succeeded=sim.patch_targets(succeeded=True))
        if not p.startswith("not patched")
    ]  # this sweep patched nothing else
    assert sent >= len(KINDS) - 1 and len(problems) == sent
    followed = {p.split(": ", 1)[1].split(" (")[0] for p in problems if p.startswith("patched but must not be")}
    assert {corrupted[k].id for k in ("fragment", "dot-dot", "dot-segment", "trailing-slash")} <= followed
