"""Odd but legal: tag name casing, tag values as written, Unicode resource groups, percent-encoded paths."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from sim_support import HC_API, PRODUCT_QUERY, SUB_A, Api, small_fleet
from local_stack.simulator import Machine

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
        assert rows[name]["tags"] == tags                 # names keep their case, values their spaces


def test_a_patch_leaves_tags_as_written(tagged):
    sim, api = tagged
    machine = next(m for m in sim.fleet.machines if m.name == "tag-upper")
    assert api.patch(f"{machine.id}?api-version={HC_API}", ENABLE).json()["tags"] == {"ARC-SWEEPER": " exclude "}


@pytest.mark.parametrize("tags", [
    {"arc-sweeper": "exclude", "ARC-SWEEPER": "keep"},     # one name to Azure
    {"a/b": "x"}, {"a?b": "x"}, {"50%": "x"}, {"": "x"},    # forbidden characters, empty name
    {"n" * 513: "x"}, {"name": "v" * 257},                  # too long
    {f"t{i}": "x" for i in range(51)},                       # more than 50
])
def test_tags_azure_would_refuse_are_rejected(tags):
    with pytest.raises(ValueError):
        Machine.build(SUB_A, "rg", "m", tags=tags)


def test_tags_at_the_limits_are_accepted():
    tags = {f"t{i}": "x" for i in range(49)}
    tags["n" * 512] = " " + "v" * 254 + " "
    assert len(Machine.build(SUB_A, "rg", "m", tags=tags).tags) == 50
