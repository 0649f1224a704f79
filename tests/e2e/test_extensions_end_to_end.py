"""Machine extensions end to end: the simulator, Azurite and the real app on the local Durable host.

Generated estates (the simulator's own extension mix) show what each EXTENSION_UPGRADE_MODE
writes to Azure and to the tables, checked against the simulator's extension fate ledger
(decided from Azure's facts before the run) and against the extensions as the simulator
holds them. A small hand-written estate, whose extensions upgrade or fail and roll back on
a known schedule, shows the follow-up's outcomes day by day and the alerts that list them.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jsonschema

from arc_sweeper.records import ExtensionRecord, MachineRecord
from arc_sweeper.reporting.alerts import DEFAULT_MAX_ITEMS, MAX_ALERT_BYTES, encode_alert
from arc_sweeper.vocabulary import AttentionKind
from local_stack.alert_receiver import AlertReceiver, load_alert_schema
from local_stack.runner import LocalStack
from local_stack.simulator import (
    Extension,
    ExtensionBehaviour,
    ExtensionFateRules,
    FateLedger,
    FleetSimulator,
    FleetSpec,
    Machine,
    Subscription,
    UpgradeBehaviour,
    generate_fleet,
)
from local_stack.simulator.extension_catalog import SUPPORTED_EXTENSION_TYPES, type_key
from local_stack.simulator.extensions import FAILS_AND_ROLLS_BACK, version_key
from local_stack.simulator.fates import PATCH, REFUSED
from local_stack.simulator.fleet import Fleet
from tests.e2e.fleets import NEW, START, SUB_A
from tests.e2e.support import COMPLIANT, Paused, store_of, sweep_instances
from tests.report_html import ReportReader, number

API_VERSION = "2024-07-10"  # not the default: the PATCH must carry the configured one
ENABLE_BODY = {"properties": {"enableAutomaticUpgrade": True}}
EXTENSION_KINDS = (
    AttentionKind.EXTENSION_FAILED,
    AttentionKind.EXTENSION_OPTED_OUT,
    AttentionKind.EXTENSION_FAR_BEHIND,
)
SUPPORTED = {type_key(*pair) for pair in SUPPORTED_EXTENSION_TYPES}
SWEPT_STATES = ("Enabled", "Warned", "PastDue")

# Six subscriptions: one unreadable, one without write permission, one Disabled, one Warned, one
# PastDue and one plain; more opted-out extensions and excluded machines than the default mix.
SPEC = dict(
    seed=11,
    subscriptions=6,
    machines=60,
    now=START,
    disabled_subscriptions=1,
    excluded_share=0.1,
    extension_auto_upgrade_weights={"absent": 0.3, "enabled": 0.3, "disabled": 0.4},
)
# One by type, one by publisher.type (the two spellings EXTENSION_DENY_LIST takes).
DENY_LIST = "AzureMonitorWindowsAgent,Microsoft.CPlat.Core.LinuxOsUpdateExtension"
DENIED_TYPES = frozenset({"AzureMonitorWindowsAgent", "LinuxOsUpdateExtension"})


@dataclass
class Swept:
    fleet: Fleet
    sim: FleetSimulator
    receiver: AlertReceiver
    stack: LocalStack
    run_id: str
    machines: dict[str, MachineRecord]  # by machine id, lowercase
    extensions: dict[str, ExtensionRecord]  # by extension id, lowercase


def sweep(make_stack, monkeypatch, fleet: Fleet, env: dict[str, str]) -> Swept:
    """Fire the daily timer and work the host until the run completes or its follow-up first waits
    (nothing has moved on the virtual clock yet: the extensions are as discovery saw them)."""
    stack, sim, receiver = make_stack(fleet, env={"HYBRIDCOMPUTE_API_VERSION": API_VERSION, **env})
    stack.fire_timer()
    [run] = sweep_instances(stack)

    def refuse(moment):
        raise Paused(moment)

    with monkeypatch.context() as patch, contextlib.suppress(Paused):
        patch.setattr(stack.host.clock, "advance_to", refuse)
        stack.run_to_completion(run.instance_id, timeout_s=240)
    recorded = store_of(stack).get_run(run.instance_id)
    assert recorded is not None and recorded.status in ("following", "completed"), recorded
    return Swept(fleet, sim, receiver, stack, run.instance_id, *rows_of(stack, run.instance_id))


def rows_of(stack: LocalStack, run_id: str) -> tuple[dict[str, MachineRecord], dict[str, ExtensionRecord]]:
    store = store_of(stack)
    swept = [s.subscription_id for s in store.subscriptions(run_id) if s.in_scope]
    machines = {r.resource_id.lower(): r for r in store.all_machines(run_id)}
    extensions = {r.resource_id.lower(): r for sub in swept for r in store.extensions(run_id, sub)}
    return machines, extensions


def extension_patches(sim: FleetSimulator) -> list:
    return [r for r in sim.requests if r.method == "PATCH" and sim.fleet.extension_by_id(r.path) is not None]


def spelled(sim: FleetSimulator, path: str) -> str:
    machine, ext = sim.fleet.extension_by_id(path)
    return machine.extension_id(ext)


def is_excluded(machine: Machine) -> bool:
    return any(k.strip().lower() == "arc-sweeper" and v.strip().lower() == "exclude" for k, v in machine.tags.items())


def assert_valid_alert(payload: dict) -> None:
    validator = jsonschema.Draft7Validator(load_alert_schema())
    problems = [f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(payload)]
    assert not problems, "alert does not match the schema:\n" + "\n".join(problems)


def assert_within_caps(payload: dict) -> None:
    """The usual caps: at most DEFAULT_MAX_ITEMS items and MAX_ALERT_BYTES, the most severe first, totals whole."""
    attention = payload["attention"]
    assert len(encode_alert(payload)) <= MAX_ALERT_BYTES
    assert attention["returned"] == len(attention["items"]) == min(attention["total"], DEFAULT_MAX_ITEMS)
    assert attention["truncated"] == (attention["returned"] < attention["total"])
    assert sum(attention["byKind"].values()) == attention["total"]
    ranks = [AttentionKind(i["kind"]).severity.rank for i in attention["items"]]
    assert ranks == sorted(ranks, reverse=True)
    if ranks:  # nothing more severe than the least severe item listed was left out
        more_severe = sum(n for kind, n in attention["byKind"].items() if AttentionKind(kind).severity.rank > ranks[-1])
        assert more_severe <= attention["returned"]


# --- enable mode on a generated estate ---------------------------------------------------------------


def test_enable_patches_exactly_the_opted_out_supported_extensions_in_reach_once_each(make_stack, monkeypatch):
    fleet = generate_fleet(FleetSpec(**SPEC))
    ledger = FateLedger.of_extensions(fleet, ExtensionFateRules(denied_types=DENIED_TYPES, scope=fleet.fates.rules))
    swept = sweep(
        make_stack,
        monkeypatch,
        fleet,
        {  # chunks of 4: each subscription's extensions in several
            "EXTENSION_UPGRADE_MODE": "enable",
            "EXTENSION_DENY_LIST": DENY_LIST,
            "ENABLE_BATCH_SIZE": "4",
        },
    )
    sim = swept.sim
    assert len(ledger.must_patch()) >= 10 and ledger.ids(REFUSED), "the estate has extensions to enable and refusals"

    # What the ledger says, and each PATCH once, with exactly the documented body and the configured api-version.
    sent = sim.patch_targets(resource="extension")
    assert ledger.check(sent=sent, succeeded=sim.patch_targets(resource="extension", succeeded=True)) == []
    patches = extension_patches(sim)
    assert Counter(spelled(sim, r.path) for r in patches) == Counter(ledger.ids(PATCH, REFUSED))
    assert all(r.body == ENABLE_BODY and r.query["api-version"] == API_VERSION for r in patches)

    # None on excluded machines, none of a denied type, though both hold opted-out supported extensions.
    excluded = {
        m.extension_id(e)
        for m in fleet.machines
        if is_excluded(m) and m.id.lower() in swept.machines
        for e in m.extensions
        if e.properties.get("enableAutomaticUpgrade") is False and type_key(e.publisher, e.type) in SUPPORTED
    }
    denied = FateLedger.of_extensions(fleet, ExtensionFateRules(scope=fleet.fates.rules)).must_patch() - (
        ledger.must_patch()
    )
    assert excluded and denied and {e.type for e in (sim.fleet.extension_by_id(i)[1] for i in denied)} == DENIED_TYPES
    assert not (excluded | denied) & sent

    # The machines' own PATCHes still follow the machine ledger.
    assert (
        fleet.fates.check(
            sent=sim.patch_targets(resource="machine"), succeeded=sim.patch_targets(resource="machine", succeeded=True)
        )
        == []
    )

    # The rows say the same: enabled, refused with ARM's code, or left with the reason as a finding.
    rows = swept.extensions
    for ext_id in ledger.must_patch():
        assert rows[ext_id.lower()].action_result == "enabled" and rows[ext_id.lower()].enabled_at, ext_id
    for ext_id in ledger.ids(REFUSED):
        row = rows[ext_id.lower()]
        assert row.action_result == "failed" and row.arm_error_code in ("AuthorizationFailed", "ScopeLocked"), row
    assert all("ext_excluded" in rows[i.lower()].findings and rows[i.lower()].action == "none" for i in excluded)
    assert all("ext_denied" in rows[i.lower()].findings and rows[i.lower()].action == "none" for i in denied)
    run = store_of(swept.stack).get_run(swept.run_id)
    assert run.extension_result_counts == {"enabled": len(ledger.must_patch()), "failed": len(ledger.ids(REFUSED))}


# --- report mode (the default) on a generated estate -------------------------------------------------


def test_report_writes_nothing_and_records_every_extension_with_its_findings(make_stack, monkeypatch):
    fleet = generate_fleet(FleetSpec(**SPEC))
    swept = sweep(make_stack, monkeypatch, fleet, {"RESOURCE_GRAPH_BATCH_SIZE": "2"})  # ranked across batches
    sim = swept.sim
    assert sim.patch_targets(resource="extension") == set()
    assert fleet.extension_fates.must_patch(), "in enable mode some of these would be PATCHed"

    # Every extension of every machine the run swept has a row, and nothing else has one.
    sweepable = {s.subscription_id for s in fleet.subscriptions if s.readable and s.state in SWEPT_STATES}
    assert {m.id.lower() for m in fleet.machines if m.subscription_id in sweepable} == set(swept.machines)
    held = [(m, e) for m in fleet.machines if m.id.lower() in swept.machines for e in m.extensions]
    assert {m.extension_id(e).lower() for m, e in held} == set(swept.extensions)

    # The estate's versions, as the run saw them: how many newer versions of the same type run anywhere.
    in_use: dict[tuple[str, str], set] = {}
    for _, e in held:
        in_use.setdefault(type_key(e.publisher, e.type), set()).add(version_key(e.version))
    seen = Counter()
    for machine, ext in held:
        row = swept.extensions[machine.extension_id(ext).lower()]
        supported = type_key(ext.publisher, ext.type) in SUPPORTED
        flag = ext.properties.get("enableAutomaticUpgrade")
        failed = ext.properties["provisioningState"] == "Failed"
        behind = sum(1 for v in in_use[type_key(ext.publisher, ext.type)] if v > version_key(ext.version))
        expected = {
            "ext_auto_upgrade_off": supported and flag is False,
            "ext_provisioning_failed": failed,
            "ext_behind": behind > 0,
            "ext_unsupported": not supported,
            "ext_machine_not_connected": machine.properties["status"] != "Connected",
            "ext_excluded": is_excluded(machine),
        }
        findings = {f for f, present in expected.items() if present} or {"ok"}
        assert set(row.findings) == findings, (row.resource_id, row.findings)
        assert row.versions_behind == behind and row.version_seen == ext.version
        assert row.auto_upgrade_before == {True: "true", False: "false", None: "missing"}[flag]
        assert (row.action, row.action_result) == ("none", "not_attempted")
        assert row.followed == (swept.machines[machine.id.lower()].action == "enable_auto_upgrade")
        if failed:
            assert row.status_message == ext.properties["instanceView"]["status"]["message"] != ""
            assert row.provisioning_state == "Failed"
        seen.update(findings)
        seen["behind_2"] += behind >= 2
    for finding in ("ext_auto_upgrade_off", "ext_provisioning_failed", "ext_behind", "ext_unsupported", "behind_2"):
        assert seen[finding] > 0, f"the estate has no extension with {finding}"

    # The digest counts them and lists what needs attention, within the usual caps.
    [digest] = swept.receiver.payloads
    assert digest["kind"] == "sweep_completed" and not swept.receiver.rejections
    assert_valid_alert(digest)
    assert_within_caps(digest)
    rows = list(swept.extensions.values())
    counts = digest["counts"]["extensions"]
    assert counts["seen"] == len(rows)
    assert {k: v for k, v in counts["findings"].items() if v} == Counter(f for r in rows for f in r.findings)
    assert not any(counts["results"].values()) and not any(counts["outcomes"].values())
    live = [r for r in rows if "ext_excluded" not in r.findings]
    assert {k: digest["attention"]["byKind"][k] for k in EXTENSION_KINDS} == {
        AttentionKind.EXTENSION_FAILED: sum(1 for r in live if "ext_provisioning_failed" in r.findings),
        AttentionKind.EXTENSION_OPTED_OUT: sum(1 for r in live if "ext_auto_upgrade_off" in r.findings),
        AttentionKind.EXTENSION_FAR_BEHIND: sum(1 for r in live if r.versions_behind >= 2),
    }


def test_a_dry_run_patches_no_extension(make_stack, monkeypatch):
    fleet = generate_fleet(FleetSpec(**SPEC))
    swept = sweep(make_stack, monkeypatch, fleet, {"EXTENSION_UPGRADE_MODE": "enable", "DRY_RUN": "true"})
    assert [r for r in swept.sim.requests if r.method == "PATCH"] == []
    would = fleet.extension_fates.ids(PATCH, REFUSED)
    assert would and {i for i, r in swept.extensions.items() if r.action_result == "dry_run"} == {
        i.lower() for i in would
    }
    run = store_of(swept.stack).get_run(swept.run_id)
    assert run.dry_run and run.status == "completed" and run.extension_result_counts == {"dry_run": len(would)}
    [digest] = swept.receiver.payloads
    assert digest["dryRun"] and digest["counts"]["extensions"]["results"]["dry_run"] == len(would)
    assert_valid_alert(digest)


# --- the follow-up, day by day, on a hand-written estate ---------------------------------------------

T0 = datetime(2026, 11, 20, 9, 10, tzinfo=UTC)  # off the hour: the platform's slots are whole hours
QUICK_AGENT = UpgradeBehaviour("succeed", propagation_delay=timedelta(hours=1), window_offset=timedelta(minutes=10))
STILL = ExtensionBehaviour(delay=timedelta(days=30))  # the rollout does not reach it within the test
FAILS = "Extension upgrade failed: the install command exited with code 1603; the previous version was restored."
FAILS_ONCE = "Extension upgrade failed: could not download the extension package (i/o timeout); rolled back."
INSTALL_FAILED = "Extension installation failed: the handler exited with code 1 while enabling the extension."


def ext(
    publisher: str, ext_type: str, version: str, flag: bool | None, behaviour: ExtensionBehaviour = STILL, **kwargs
) -> Extension:
    return Extension.build(publisher, ext_type, version, auto_upgrade=flag, behaviour=behaviour, **kwargs)


def rolls_back(failures: int | None, message: str) -> ExtensionBehaviour:
    """Enabled at 09:10, first attempt at 09:00 the next day; each failure shows Error for 4 hours, then the
    rollback and the next attempt an hour later: Error 09-13, 14-18, 19-23, 00-04, 05-09, 10-14, ..."""
    return ExtensionBehaviour(
        outcome=FAILS_AND_ROLLS_BACK,
        delay=timedelta(hours=23),
        failures=failures,
        rollback_after=timedelta(hours=4),
        failure_message=message,
    )


def followed_estate() -> Fleet:
    """Windows machines in one subscription; the names say what the sweep and the platform do."""
    upgrades = ExtensionBehaviour(delay=timedelta(hours=20))  # the next morning at 06:00
    ama = ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent")
    kv = ("Microsoft.Azure.KeyVault", "KeyVaultForWindows")
    updates = ("Microsoft.CPlat.Core", "WindowsOsUpdateExtension")
    dependency = ("Microsoft.Azure.Monitoring.DependencyAgent", "DependencyAgentWindows")
    worker = ("Microsoft.Azure.Automation.HybridWorker", "HybridWorkerForWindows")
    mde = ("Microsoft.Azure.AzureDefenderForServers", "MDE.Windows")

    def windows(name: str, exts: list[Extension], **kwargs) -> Machine:
        kwargs.setdefault("agent_version", COMPLIANT)
        kwargs.setdefault("auto_upgrade", True)
        return Machine.build(SUB_A, "rg-ext", name, os_type="windows", extensions=exts, **kwargs)

    machines = [
        # Its agent is enabled, so its extensions are followed: one opted in by default that the platform
        # upgrades the next morning, and one the platform never upgrades.
        windows(
            "agent-off",
            [ext(*ama, "1.30.0.0", None, upgrades), ext(*mde, "1.0.9.7", True)],
            agent_version=NEW,
            auto_upgrade=False,
            behaviour=QUICK_AGENT,
        ),
        # Opted out, each enabled by the sweep; then the platform upgrades, fails for good, fails once, has
        # nothing newer, or has not reached it yet.
        windows(
            "ext-off",
            [
                ext(*kv, "3.0.2258.3", False, upgrades),
                ext(*updates, "1.0.21.0", False, rolls_back(None, FAILS)),
                ext(*dependency, "9.10.17.25320", False, rolls_back(1, FAILS_ONCE)),
                ext("Microsoft.Azure.Security.WindowsAttestation", "GuestAttestation", "1.0.0.3", False),
                ext(*worker, "1.1.13", False),
            ],
        ),
        # Nothing to do; it holds the estate's newest versions.
        windows("current", [ext(*ama, "1.34.0.0", True), ext(*mde, "1.0.11.4", True), ext(*worker, "1.1.15", True)]),
        # Needs a person: a failed install, an opt-out of a denied type, three versions behind.
        windows(
            "attention",
            [
                ext(
                    "Microsoft.Azure.NetworkWatcher",
                    "NetworkWatcherAgentWindows",
                    "1.4.2798.3",
                    True,
                    failed=INSTALL_FAILED,
                ),
                ext("Microsoft.Azure.Security", "IaaSAntimalware", "1.7.0.0", False),
                ext(*ama, "1.28.0.0", True),
            ],
        ),
        # Excluded: reported, never touched, never an attention item.
        windows(
            "excluded", [ext(*kv, "3.1.2466.4", False), ext(*ama, "1.32.0.0", True)], tags={"arc-sweeper": "exclude"}
        ),
    ]
    return Fleet([Subscription(SUB_A, "App")], machines, created_at=T0)


def ext_id(fleet: Fleet, machine: str, name: str) -> str:
    found = next(m for m in fleet.machines if m.name == machine)
    return found.extension_id(found.find_extension(name)).lower()


def test_the_follow_up_records_what_became_of_each_extension_day_by_day(make_stack):
    fleet = followed_estate()
    stack, sim, receiver = make_stack(
        fleet,
        env={
            "EXTENSION_UPGRADE_MODE": "enable",
            "EXTENSION_DENY_LIST": "Microsoft.Azure.Security.IaaSAntimalware",
            "FOLLOW_UP_WINDOW": "P2D",
            "POLL_INTERVAL": "P1D",
            "HYBRIDCOMPUTE_API_VERSION": API_VERSION,
        },
    )
    stack.fire_timer()
    [run] = sweep_instances(stack)
    names = {
        ext_id(fleet, m, e): f"{m}/{e}"
        for m, e in (
            ("agent-off", "AzureMonitorWindowsAgent"),
            ("agent-off", "MDE.Windows"),
            ("ext-off", "KeyVaultForWindows"),
            ("ext-off", "WindowsOsUpdateExtension"),
            ("ext-off", "DependencyAgentWindows"),
            ("ext-off", "GuestAttestation"),
            ("ext-off", "HybridWorkerForWindows"),
        )
    }
    days = []
    for day in (1, 2):
        stack.host.run_until_time(T0 + timedelta(days=day, hours=1), timeout_s=120)
        _, rows = rows_of(stack, run.instance_id)
        assert {i for i, r in rows.items() if r.followed} == set(names)
        days.append({names[i]: (rows[i].outcome, rows[i].outcome_detail, rows[i].version_now) for i in names})
    final = stack.run_to_completion(run.instance_id, timeout_s=60)
    assert final.runtime_status == "Completed", final.error

    enabled = {
        ext_id(fleet, "ext-off", n)
        for n in (
            "KeyVaultForWindows",
            "WindowsOsUpdateExtension",
            "DependencyAgentWindows",
            "GuestAttestation",
            "HybridWorkerForWindows",
        )
    }
    assert Counter(spelled(sim, r.path).lower() for r in extension_patches(sim)) == Counter(enabled)

    upgraded, current, unchanged, failing = "ext_upgraded", "ext_current", "ext_unchanged", "ext_failing"
    assert days[0] == {
        "agent-off/AzureMonitorWindowsAgent": (upgraded, "1.30.0.0 -> 1.34.0.0", "1.34.0.0"),
        "agent-off/MDE.Windows": (unchanged, "still 1.0.9.7", "1.0.9.7"),
        "ext-off/KeyVaultForWindows": (upgraded, "3.0.2258.3 -> 3.2.2681.5", "3.2.2681.5"),
        "ext-off/WindowsOsUpdateExtension": (failing, FAILS, "1.0.21.0"),  # failed at 09:00
        "ext-off/DependencyAgentWindows": (failing, FAILS_ONCE, "9.10.17.25320"),  # failed at 09:00
        "ext-off/GuestAttestation": (current, "1.0.0.3, the newest the estate runs", "1.0.0.3"),
        "ext-off/HybridWorkerForWindows": (unchanged, "still 1.1.13", "1.1.13"),
    }
    assert days[1] == {
        **days[0],
        # Rolled back at 09:00, the next attempt at 10:00: healthy for now, but its upgrade still fails.
        "ext-off/WindowsOsUpdateExtension": (failing, FAILS, "1.0.21.0"),
        # Rolled back, then the attempt at 14:00 the day before succeeded.
        "ext-off/DependencyAgentWindows": (upgraded, "9.10.17.25320 -> 9.10.20.31260", "9.10.20.31260"),
    }
    run_row = store_of(stack).get_run(run.instance_id)
    assert run_row.extension_outcome_counts == {upgraded: 3, failing: 1, current: 1, unchanged: 2}
    fleet_rows = {f.name: f for f in store_of(stack).fleet(SUB_A).values()}
    assert fleet_rows["ext-off"].extensions_needing_attention == ("WindowsOsUpdateExtension",)
    assert fleet_rows["ext-off"].extensions["KeyVaultForWindows"] == "3.2.2681.5"

    # The digest at the end of enabling, and the follow-up's alert, list what needs a person.
    digest, done = receiver.payloads
    assert (digest["kind"], done["kind"]) == ("sweep_completed", "follow_up_completed") and not receiver.rejections
    for payload in (digest, done):
        assert_valid_alert(payload)
        assert_within_caps(payload)
        assert not payload["attention"]["truncated"]
    failed_install = (
        AttentionKind.EXTENSION_FAILED,
        "attention/NetworkWatcherAgentWindows",
        "NetworkWatcherAgentWindows 1.4.2798.3",
        INSTALL_FAILED,
    )
    opted_out = (
        AttentionKind.EXTENSION_OPTED_OUT,
        "attention/IaaSAntimalware",
        "IaaSAntimalware 1.7.0.0",
        "enableAutomaticUpgrade is false",
    )
    far_behind = (
        AttentionKind.EXTENSION_FAR_BEHIND,
        "attention/AzureMonitorWindowsAgent",
        "AzureMonitorWindowsAgent 1.28.0.0",
        "1.28.0.0: 3 versions behind the newest in the estate",
    )
    assert extension_items(digest) == {
        failed_install,
        opted_out,
        far_behind,
        (
            AttentionKind.EXTENSION_FAR_BEHIND,
            "agent-off/AzureMonitorWindowsAgent",
            "AzureMonitorWindowsAgent 1.30.0.0",
            "1.30.0.0: 2 versions behind the newest in the estate",
        ),
    }
    assert extension_items(done) == {
        failed_install,
        opted_out,
        far_behind,
        (
            AttentionKind.EXTENSION_FAILED,
            "ext-off/WindowsOsUpdateExtension",
            "WindowsOsUpdateExtension 1.0.21.0",
            FAILS,
        ),
    }
    assert digest["counts"]["extensions"]["seen"] == done["counts"]["extensions"]["seen"] == 15
    assert {k: v for k, v in digest["counts"]["extensions"]["results"].items() if v} == {"enabled": 5}
    assert {k: v for k, v in done["counts"]["extensions"]["outcomes"].items() if v} == run_row.extension_outcome_counts
    for payload in (digest, done):
        for item in payload["attention"]["items"]:
            if item["kind"] in EXTENSION_KINDS:
                assert item["resourceId"].lower() == ext_id(fleet, *item["name"].split("/"))

    # The run's HTML report (GET /api/sweeps/{runId}/report) has the same counts and items.
    response = stack.get_report(run.instance_id)
    assert response.status_code == 200
    report = ReportReader(response.get_body().decode("utf-8"))
    assert {row[0]: number(row[1]) for row in report.tables["extension-outcomes-table"].body} == (
        run_row.extension_outcome_counts
    )
    assert {row[0]: number(row[1]) for row in report.tables["extension-results-table"].body} == {"enabled": 5}
    listed = {
        (t.caption.removesuffix(", oldest first"), row[0], row[3])
        for t in report.in_section("extensions")
        if t.caption.endswith("oldest first")
        for row in t.body
    }
    assert listed == {
        (kind.replace("_", " ").capitalize(), name, message) for kind, name, _, message in (extension_items(done))
    }


def extension_items(payload: dict) -> set[tuple[str, str, str, str]]:
    return {
        (i["kind"], i["name"], i["code"], i["message"])
        for i in payload["attention"]["items"]
        if i["kind"] in EXTENSION_KINDS
    }
