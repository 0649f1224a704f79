"""FleetSpec(odd_but_legal=True) and the fate ledger a product test checks a sweep against."""

from __future__ import annotations

from collections import Counter

import pytest
from sim_support import HC_API, PRODUCT_QUERY, T0, Api, all_pages, encoded

from local_stack.simulator import Fleet, FleetSpec, Machine, Subscription, generate_fleet
from local_stack.simulator.agents import NEVER_ATTEMPTS, STUCK, parse_version
from local_stack.simulator.fates import EITHER, LEAVE, PATCH, REFUSED, FateLedger, FateRules
from local_stack.simulator.fleet import MACHINE_NAME, SUBSCRIPTION_STATES, one_release_behind
from local_stack.simulator.odd_estate import ACCENTED_GROUP, CJK_GROUP

ENABLE = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}


def _spec(seed: int = 7, **kw) -> FleetSpec:
    return FleetSpec(seed=seed, subscriptions=5, machines=150, now=T0, **kw)


@pytest.fixture(scope="module")
def odd_fleet():
    return generate_fleet(_spec(odd_but_legal=True))


def _odd(fleet):
    return [m for m in fleet.machines if m.oddity]


def _by_oddity(fleet):
    return {m.oddity: m for m in _odd(fleet)}


def test_same_seed_same_odd_estate_and_the_rest_untouched(odd_fleet):
    again = generate_fleet(_spec(odd_but_legal=True))
    assert [(m.id, m.properties, m.tags, m.behaviour, m.oddity) for m in _odd(again)] == [
        (m.id, m.properties, m.tags, m.behaviour, m.oddity) for m in _odd(odd_fleet)
    ]
    assert [again.fates[m.id] for m in again.machines] == [odd_fleet.fates[m.id] for m in odd_fleet.machines]
    other = generate_fleet(_spec(seed=8, odd_but_legal=True))
    assert {s.subscription_id for s in other.subscriptions}.isdisjoint(
        s.subscription_id for s in odd_fleet.subscriptions
    )
    plain = generate_fleet(_spec())
    assert [(m.id, m.properties, m.tags) for m in plain.machines] == [
        (m.id, m.properties, m.tags) for m in odd_fleet.machines if not m.oddity
    ]
    assert not _odd(plain)


def test_odd_estate_covers_every_oddity(odd_fleet):
    odd = _odd(odd_fleet)
    assert 40 <= len(odd) <= 60
    states = Counter(odd_fleet.subscription(m.subscription_id).state for m in odd)
    assert set(states) == set(SUBSCRIPTION_STATES)
    groups = {m.resource_group for m in odd}
    assert ACCENTED_GROUP in groups and len(ACCENTED_GROUP) == 90 and 45 <= len(CJK_GROUP) <= 55
    assert CJK_GROUP in groups and any(len(g) == 1 for g in groups)
    assert max(len(m.name) for m in odd) == 54 and min(len(m.name) for m in odd) == 1
    assert all(MACHINE_NAME.fullmatch(m.name) for m in odd)
    tags = {(name, value) for m in odd for name, value in m.tags.items() if name.lower() == "arc-sweeper"}
    assert {name for name, _ in tags} == {"arc-sweeper", "Arc-Sweeper", "ARC-SWEEPER", "aRc-sWeEpEr"}
    assert {value for _, value in tags} == {"exclude", "Exclude", " exclude ", "EXCLUDE"}
    minors = {parse_version(m.properties["agentVersion"])[1] for m in odd}
    assert {0, 9, 10, 20, 70, 100} <= minors
    model = odd_fleet.model
    behind = {one_release_behind(model, "windows"), one_release_behind(model, "linux")}
    outcomes = Counter((m.behaviour.outcome, m.properties["agentVersion"] in behind) for m in odd)
    assert outcomes[(STUCK, True)] == 2 and outcomes[(NEVER_ATTEMPTS, True)] == 2
    assert outcomes[(NEVER_ATTEMPTS, False)] == 1  # the latest, never attempting


def test_fates_follow_the_documented_rules(odd_fleet):
    fates, odd = odd_fleet.fates, _by_oddity(odd_fleet)

    def expect(oddity):
        return fates[odd[oddity].id].expect

    for casing in ("arc-sweeper", "Arc-Sweeper", "ARC-SWEEPER", "aRc-sWeEpEr"):
        assert expect(f"tag {casing!r}='exclude'") == LEAVE  # names: any case
        for value in ("Exclude", " exclude ", "EXCLUDE"):
            assert expect(f"tag {casing!r}={value!r}") == LEAVE  # values: any case, trimmed
    for minor in (0, 5, 9, 10, 20):
        assert expect(f"agent 1.{minor}") == LEAVE
    assert expect("agent 1.70") == expect("agent 1.100") == PATCH
    for state in SUBSCRIPTION_STATES:
        assert expect(f"subscription state {state}") == (PATCH if state in ("Enabled", "Warned", "PastDue") else LEAVE)
    assert all(f.expect == PATCH for o, m in odd.items() for f in [fates[m.id]] if "one release behind" in o)
    assert fates.must_patch().isdisjoint(fates.must_not_patch())
    assert len(fates) == len(odd_fleet.machines)


def test_fate_rules_can_state_another_contract(odd_fleet):
    strict = FateLedger.of(odd_fleet, FateRules(exclusion_value_match="exact", sweep_states=frozenset({"Enabled"})))
    odd = _by_oddity(odd_fleet)
    assert strict[odd["tag 'ARC-SWEEPER'=' exclude '"].id].expect == PATCH
    assert strict[odd["subscription state Warned"].id].expect == LEAVE
    assert strict[odd["subscription state Disabled"].id].expect == LEAVE  # read-only whatever the contract
    with pytest.raises(ValueError):
        FateRules(exclusion_value_match="fuzzy")


def test_the_default_fleet_has_every_fate():
    fleet = generate_fleet(FleetSpec(seed=7, subscriptions=20, machines=2000, now=T0))
    counts = Counter(fleet.fates[m.id].expect for m in fleet.machines)
    assert {PATCH, REFUSED, LEAVE} <= set(counts) and counts[PATCH] > 200
    assert counts[EITHER] <= 1  # "1.62.0-beta", if Connected


@pytest.mark.parametrize(
    "version,expect",
    [
        ("1.58.03224.693", PATCH),
        ("1.58", PATCH),
        ("1.61.03310848", PATCH),
        ("01.059.03224.0693", PATCH),
        ("1.62.0-beta", EITHER),
        ("v1.60", EITHER),
        ("garbage", LEAVE),
        ("", LEAVE),
        (None, LEAVE),
        ("1.56.03167.593", LEAVE),
    ],
)
def test_fates_of_version_strings(version, expect):
    sub = "00000000-0000-4000-8000-0000000000f1"
    fleet = Fleet([Subscription(sub, "s")], [Machine.build(sub, "rg", "m", agent_version=version)])
    assert FateLedger.of(fleet)[fleet.machines[0].id].expect == expect


def test_refusals_and_conflicts_have_their_fates():
    sub, ro = "00000000-0000-4000-8000-0000000000f1", "00000000-0000-4000-8000-0000000000f2"
    subs = [Subscription(sub, "s", locked_resource_groups={"RG-Locked"}), Subscription(ro, "r", writable=False)]
    fleet = Fleet(
        subs,
        [
            Machine.build(sub, "rg", "locked", locked=True),
            Machine.build(sub, "rg-locked", "in-locked-rg"),
            Machine.build(sub, "rg", "forbidden", write_forbidden=True),
            Machine.build(ro, "rg", "no-write"),
            Machine.build(sub, "rg", "busy", write_conflicts=2),
            Machine.build(sub, "rg", "on", auto_upgrade=True),
            Machine.build(sub, "rg", "away", status="Disconnected"),
        ],
    )
    fates = FateLedger.of(fleet)
    assert {m.name: fates[m.id].expect for m in fleet.machines} == {
        "locked": REFUSED,
        "in-locked-rg": REFUSED,
        "forbidden": REFUSED,
        "no-write": REFUSED,
        "busy": PATCH,
        "on": LEAVE,
        "away": LEAVE,
    }
    assert "409 Conflict" in fates[fleet.machines[4].id].reason


def test_a_correct_sweep_passes_the_ledger_and_a_sloppy_one_does_not(make_sim, odd_fleet):
    fleet = generate_fleet(_spec(odd_but_legal=True))  # a fresh copy: this test PATCHes it
    sim = make_sim(fleet)
    api = Api(sim.base_url)
    fates = fleet.fates
    rows, _ = all_pages(api, PRODUCT_QUERY, top=1000)
    visible = {r["id"] for r in rows}
    assert fates.must_patch() <= visible  # everything due is in Resource Graph
    for row in rows:
        if fates[row["id"]].expect in (PATCH, REFUSED):
            r = api.patch(f"{encoded(row['id'])}?api-version={HC_API}", ENABLE)
            assert (r.status_code == 200) == (fates[row["id"]].expect == PATCH), (row["id"], r.text)
    assert fates.check(sent=sim.patch_targets(), succeeded=sim.patch_targets(succeeded=True)) == []

    sloppy = next(r["id"] for r in rows if fates[r["id"]].expect == LEAVE)
    api.patch(f"{encoded(sloppy)}?api-version={HC_API}", ENABLE)
    problems = fates.check(sent=sim.patch_targets(), succeeded=sim.patch_targets(succeeded=True))
    assert problems == [f"patched but must not be: {sloppy} ({fates[sloppy].reason})"]
    missing = fates.check(sent=set(), succeeded=set())
    assert len(missing) == len(fates.must_patch()) and missing[0].startswith("not patched: ")
    assert fates.check(sent={"/nowhere"}, succeeded=set())[-1] == (
        "PATCH sent to a machine the fleet does not have: /nowhere"
    )
