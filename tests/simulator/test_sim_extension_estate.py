"""The extension estate: the supported list, the generated mix, and the product's Resource Graph query over it."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sim_support import EXTENSIONS_QUERY, T0, Api, all_pages

from local_stack.simulator import SUPPORTED_EXTENSION_TYPES, FleetSpec, generate_fleet
from local_stack.simulator.extension_catalog import CATALOG, LATEST_EXTENSION_VERSIONS, catalog_entry
from local_stack.simulator.extensions import FAILS_AND_ROLLS_BACK, version_key

#: Microsoft's list (reference §10), as publisher/type pairs: written out here so that an edit of the
#: catalogue that changes it fails a test.
MICROSOFTS_SUPPORTED = {
    ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent"),
    ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"),
    ("Microsoft.Azure.Monitoring.DependencyAgent", "DependencyAgentWindows"),
    ("Microsoft.Azure.Monitoring.DependencyAgent", "DependencyAgentLinux"),
    ("Microsoft.Azure.KeyVault", "KeyVaultForWindows"),
    ("Microsoft.Azure.KeyVault", "KeyVaultForLinux"),
    ("Microsoft.CPlat.Core", "WindowsOsUpdateExtension"),
    ("Microsoft.CPlat.Core", "LinuxOsUpdateExtension"),
    ("Microsoft.Azure.Automation.HybridWorker", "HybridWorkerForWindows"),
    ("Microsoft.Azure.Automation.HybridWorker", "HybridWorkerForLinux"),
    ("Microsoft.Azure.NetworkWatcher", "NetworkWatcherAgentWindows"),
    ("Microsoft.Azure.NetworkWatcher", "NetworkWatcherAgentLinux"),
    ("Microsoft.Azure.Security.WindowsAttestation", "GuestAttestation"),
    ("Microsoft.Azure.Security.LinuxAttestation", "GuestAttestation"),
    ("Microsoft.Azure.Security", "IaaSAntimalware"),
    ("Microsoft.Azure.AzureDefenderForSQL", "AdvancedThreatProtection.Windows"),
    ("Microsoft.AzureData", "WindowsAgent.SqlServer"),
}
COLUMNS = [
    "id",
    "name",
    "subscriptionId",
    "resourceGroup",
    "machineId",
    "autoUpgradeMinorVersion",
    "statusCode",
    "publisher",
    "extensionType",
    "version",
    "autoUpgrade",
    "provisioningState",
    "statusLevel",
    "statusMessage",
]


def test_the_supported_list_is_microsofts_and_in_one_place():
    assert SUPPORTED_EXTENSION_TYPES == MICROSOFTS_SUPPORTED
    assert {t.product for t in CATALOG if t.supported} == {
        "Azure Monitor Agent",
        "Dependency agent",
        "Key Vault",
        "Azure Update Manager",
        "Hybrid Runbook Worker",
        "Network Watcher",
        "Guest Attestation",
        "Microsoft Antimalware",
        "Defender for SQL",
        "Azure extension for SQL Server",
    }
    unsupported = {t.type for t in CATALOG if not t.supported}
    assert {"CustomScriptExtension", "MDE.Windows", "MDE.Linux", "ChangeTracking-Windows"} <= unsupported
    assert catalog_entry("microsoft.azure.monitor", "AZUREMONITORLINUXAGENT").supported  # Azure ignores case


def test_catalogue_versions_are_in_order_and_the_last_is_latest():
    assert len({t.key for t in CATALOG}) == len(CATALOG)
    for entry in CATALOG:
        keys = [version_key(v) for v in entry.versions]
        assert None not in keys and keys == sorted(set(keys)), entry.type
        assert LATEST_EXTENSION_VERSIONS[entry.key] == entry.latest == entry.versions[-1]
        assert len(entry.versions) >= 2, "several versions of each type are in use"


def test_the_generated_estate_has_every_kind_of_extension(big_sim, big_fleet_spec):
    machines = big_sim.fleet.machines
    exts = [(m, e) for m in machines for e in m.extensions]
    pairs = {(e.publisher, e.type) for _, e in exts}
    assert pairs >= MICROSOFTS_SUPPORTED and pairs - MICROSOFTS_SUPPORTED  # unsupported ones too
    flags = Counter(e.properties.get("enableAutomaticUpgrade", "absent") for _, e in exts)
    assert flags[True] > 0.3 * len(exts) and flags[False] > 0.15 * len(exts) and flags["absent"] > 0.25 * len(exts)
    failed = [e for _, e in exts if e.properties["provisioningState"] == "Failed"]
    assert 0.01 * len(exts) < len(failed) < 0.06 * len(exts)
    assert all(
        e.properties["instanceView"]["status"]["level"] == "Error"
        and e.properties["instanceView"]["status"]["message"].startswith("Extension installation failed")
        for e in failed
    )
    by_type = Counter((e.type, e.version) for _, e in exts)
    assert len({v for (t, v) in by_type if t == "AzureMonitorWindowsAgent"}) >= 3  # versions of a type in use
    assert any(e.name != e.type for _, e in exts)  # names are not types
    assert any(e.behaviour.outcome == FAILS_AND_ROLLS_BACK for _, e in exts)
    for m, e in exts:
        if catalog_entry(e.publisher, e.type).sql:
            assert m.properties["mssqlDiscovered"] == "true" and m.os_type == "windows"
        assert catalog_entry(e.publisher, e.type).os_type == m.os_type
    assert any(not m.extensions for m in machines) and max(len(m.extensions) for m in machines) >= 5
    pending = [e for _, e in exts if big_sim.fleet.extension_model.wants_upgrade(e)]
    assert pending and all(T0 + timedelta(days=1) <= e.due_at <= T0 + timedelta(days=3, hours=1) for e in pending)


def test_extension_knobs_leave_the_machines_alone():
    def machines(spec):
        return [
            (m.id, {k: v for k, v in m.properties.items()}, m.tags, m.behaviour) for m in generate_fleet(spec).machines
        ]

    plain = FleetSpec(seed=5, subscriptions=3, machines=200, now=T0)
    bare = FleetSpec(
        seed=5, subscriptions=3, machines=200, now=T0, extensions_per_machine=(0, 0), extension_failed_share=0.5
    )
    assert machines(plain) == machines(bare)
    assert not any(m.extensions for m in generate_fleet(bare).machines if m.os_type == "linux")


def test_the_products_extension_query_pages_by_skip_token_in_subscription_batches(big_sim):
    api = Api(big_sim.base_url)
    fleet = big_sim.fleet
    visible = [s.subscription_id for s in fleet.subscriptions if s.visible]
    rows = []
    for i in range(0, len(visible), 7):  # batched by subscriptions, like the machine query
        batch, bodies = all_pages(api, EXTENSIONS_QUERY, top=1000, subscriptions=visible[i : i + 7])
        assert len(bodies) >= 2 and all(b["resultTruncated"] == "false" for b in bodies)
        assert [r["id"] for r in batch] == sorted(r["id"] for r in batch)
        rows += batch
    expected = {
        m.extension_id(e): (m, e)
        for m in fleet.machines
        if not m.deleted and fleet.subscription(m.subscription_id).visible
        for e in m.extensions
    }
    assert sorted(r["id"] for r in rows) == sorted(expected)
    assert all(list(r) == COLUMNS for r in rows)
    for row in rows:
        machine, ext = expected[row["id"]]
        assert row["machineId"] == machine.id.lower() and row["name"] == ext.name
        assert row["subscriptionId"] == machine.subscription_id
        assert row["resourceGroup"] == machine.resource_group.lower()
        assert (row["publisher"], row["extensionType"], row["version"]) == (ext.publisher, ext.type, ext.version)
        assert row["autoUpgrade"] is ext.properties.get("enableAutomaticUpgrade")
        assert row["autoUpgradeMinorVersion"] is False
        status = ext.properties["instanceView"]["status"]
        assert (row["provisioningState"], row["statusCode"], row["statusLevel"], row["statusMessage"]) == (
            ext.properties["provisioningState"],
            status["code"],
            status["level"],
            status["message"],
        )
