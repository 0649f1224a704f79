"""The extension fate ledger: which extensions a correct sweep must PATCH, by mode, and how a sweep is checked."""

from __future__ import annotations

from collections import Counter

import pytest
from sim_support import EXTENSIONS_QUERY, HC_API, SUB_A, SUB_B, SUB_C, SUB_D, SUB_E, T0, Api, all_pages, encoded

from local_stack.simulator import (
    SUPPORTED_EXTENSION_TYPES,
    Extension,
    ExtensionFateRules,
    Fleet,
    FleetSpec,
    Machine,
    Subscription,
    generate_fleet,
)
from local_stack.simulator.fates import LEAVE, PATCH, REFUSED, REPORT, FateLedger, FateRules

ENABLE = {"properties": {"enableAutomaticUpgrade": True}}
AMA = ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent")
MDE = ("Microsoft.Azure.AzureDefenderForServers", "MDE.Linux")


def _one(sub: str, rg: str, name: str, flag: bool | None = False, ext=AMA, **kw) -> Machine:
    return Machine.build(sub, rg, name, extensions=[Extension.build(*ext, auto_upgrade=flag)], **kw)


def _fleet() -> Fleet:
    subs = [
        Subscription(SUB_A, "Plain"),
        Subscription(SUB_B, "No write", writable=False),
        Subscription(SUB_C, "Disabled", state="Disabled"),
        Subscription(SUB_D, "Unreadable", readable=False),
        Subscription(SUB_E, "Locks", locked_resource_groups={"rg-locked"}),
    ]
    return Fleet(
        subs,
        [
            _one(SUB_A, "rg", "off"),
            _one(SUB_A, "rg", "on", flag=True),
            _one(SUB_A, "rg", "absent", flag=None),
            _one(SUB_A, "rg", "unsupported", ext=MDE),
            _one(SUB_A, "rg", "away", status="Disconnected"),
            _one(SUB_A, "rg", "excluded", tags={"Arc-Sweeper": "Exclude"}),
            _one(SUB_A, "rg", "held", locked=True),
            _one(SUB_A, "rg", "forbidden", write_forbidden=True),
            _one(SUB_B, "rg", "no-write"),
            _one(SUB_C, "rg", "disabled"),
            _one(SUB_D, "rg", "invisible"),
            _one(SUB_E, "rg-locked", "in-locked-rg"),
        ],
        created_at=T0,
    )


def _by_machine(ledger: FateLedger, fleet: Fleet) -> dict[str, str]:
    return {m.name: ledger[m.extension_id(e)].expect for m in fleet.machines for e in m.extensions}


def test_enable_mode_patches_opted_out_supported_extensions_in_reach():
    fleet = _fleet()
    ledger = FateLedger.of_extensions(fleet)
    assert _by_machine(ledger, fleet) == {
        "off": PATCH,
        "on": LEAVE,
        "absent": LEAVE,
        "unsupported": LEAVE,
        "away": LEAVE,
        "excluded": LEAVE,
        "held": REFUSED,
        "forbidden": REFUSED,
        "no-write": REFUSED,
        "disabled": LEAVE,
        "invisible": LEAVE,
        "in-locked-rg": REFUSED,
    }
    reasons = {m.name: ledger[m.extension_id(m.extensions[0])].reason for m in fleet.machines}
    assert reasons["absent"] == "enableAutomaticUpgrade absent: opted in by default"
    assert reasons["unsupported"] == (
        "Microsoft.Azure.AzureDefenderForServers/MDE.Linux is not supported: the platform never upgrades it"
    )
    assert reasons["disabled"] == "subscription state Disabled" and "exclusion tag" in reasons["excluded"]


def test_report_mode_patches_nothing_and_denied_types_are_left():
    fleet = _fleet()
    assert set(_by_machine(FateLedger.of_extensions(fleet, ExtensionFateRules(mode=REPORT)), fleet).values()) == {LEAVE}
    denied = FateLedger.of_extensions(fleet, ExtensionFateRules(denied_types=frozenset({"azuremonitorlinuxagent"})))
    assert denied.must_patch() == set() and denied.ids(REFUSED) == set()
    strict = FateLedger.of_extensions(fleet, ExtensionFateRules(scope=FateRules(exclusion_value_match="exact")))
    assert _by_machine(strict, fleet)["excluded"] == PATCH  # "Exclude" is not "exclude" to it
    narrow = ExtensionFateRules(supported=frozenset(SUPPORTED_EXTENSION_TYPES - {AMA}))
    assert FateLedger.of_extensions(fleet, narrow).must_patch() == set()
    with pytest.raises(ValueError):
        ExtensionFateRules(mode="fix-everything")


def test_generated_fleets_carry_an_extension_ledger_with_every_fate(big_sim):
    fleet = big_sim.fleet
    ledger = fleet.extension_fates
    assert ledger is not None and ledger.noun == "extension"
    assert len(ledger) == sum(len(m.extensions) for m in fleet.machines)
    counts = Counter(ledger[i].expect for i in ledger)
    assert counts[PATCH] > 100 and counts[REFUSED] > 0 and counts[LEAVE] > counts[PATCH]
    for ext_id in ledger.must_patch():
        machine, ext = fleet.extension_by_id(ext_id)
        assert ext.properties["enableAutomaticUpgrade"] is False and (ext.publisher, ext.type) in (
            SUPPORTED_EXTENSION_TYPES
        )


def test_a_correct_extension_sweep_passes_the_ledger_and_a_sloppy_one_does_not(make_sim):
    fleet = generate_fleet(FleetSpec(seed=4, subscriptions=4, machines=150, now=T0))
    ledger = fleet.extension_fates
    sim = make_sim(fleet)
    api = Api(sim.base_url)
    rows, _ = all_pages(api, EXTENSIONS_QUERY, top=1000)
    assert ledger.must_patch() <= {r["id"] for r in rows}  # everything due is in Resource Graph
    for row in rows:
        if ledger[row["id"]].expect in (PATCH, REFUSED):
            r = api.patch(f"{encoded(row['id'])}?api-version={HC_API}", ENABLE)
            assert (r.status_code == 200) == (ledger[row["id"]].expect == PATCH), (row["id"], r.text)
    sent, succeeded = (sim.patch_targets(resource="extension", succeeded=ok) for ok in (False, True))
    assert ledger.check(sent=sent, succeeded=succeeded) == []
    assert fleet.fates.check(sent=sim.patch_targets(resource="machine"), succeeded=set()) == [
        f"not patched: {mid} ({fleet.fates[mid].reason})" for mid in sorted(fleet.fates.must_patch())
    ]

    sloppy = next(r["id"] for r in rows if ledger[r["id"]].reason.endswith("opted in by default"))
    api.patch(f"{encoded(sloppy)}?api-version={HC_API}", ENABLE)
    sent, succeeded = (sim.patch_targets(resource="extension", succeeded=ok) for ok in (False, True))
    assert ledger.check(sent=sent, succeeded=succeeded) == [
        f"patched but must not be: {sloppy} (enableAutomaticUpgrade absent: opted in by default)"
    ]
    assert ledger.check(sent={"/nowhere"}, succeeded=set())[-1] == (
        "PATCH sent to an extension the fleet does not have: /nowhere"
    )
