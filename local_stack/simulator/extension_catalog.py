"""The extension types an Arc estate runs, and which of them the platform upgrades automatically.

This is the one place the simulator keeps that list. Microsoft's "Automatic extension
upgrade for Azure Arc-enabled servers" names the supported extensions (reference §10):
Azure Monitor Agent, Dependency agent, Key Vault, Azure Update Manager, Hybrid Runbook
Worker, Network Watcher, Guest Attestation, Microsoft Antimalware (Windows), Defender for
SQL (Windows) and the Azure extension for SQL Server; every other type is never upgraded
by the platform, whatever its ``enableAutomaticUpgrade`` says. Tests compare
:data:`SUPPORTED_EXTENSION_TYPES` with the product's own data file, so the two cannot drift.

Publisher and type names are Azure's. Version strings are plausible builds, oldest first;
the last one is the "latest" the platform rolls out (a fixed table, not a feed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExtensionType:
    """One publisher/type pair as estates carry it."""

    product: str  # what Microsoft calls it
    publisher: str  # properties.publisher
    type: str  # properties.type
    os_type: str  # "windows" or "linux": the machines it is installed on
    versions: tuple[str, ...]  # typeHandlerVersions in use, oldest first; the last is the latest
    supported: bool  # the platform upgrades it automatically
    names: tuple[str, ...] = ()  # resource names seen in estates (the type itself when empty)
    weight: float = 1.0  # how common it is, relative to the others on the same OS; for a SQL
    # type, the chance that a machine running SQL Server has it
    sql: bool = False  # only on machines running SQL Server

    @property
    def key(self) -> tuple[str, str]:
        return (self.publisher, self.type)

    @property
    def latest(self) -> str:
        return self.versions[-1]

    @property
    def resource_names(self) -> tuple[str, ...]:
        return self.names or (self.type,)


def type_key(publisher: str, type_: str) -> tuple[str, str]:
    """Publisher and type compare ignoring case in Azure, as resource names do."""
    return (publisher.casefold(), type_.casefold())


_W, _L = "windows", "linux"

CATALOG: tuple[ExtensionType, ...] = (
    # Supported: the platform upgrades these when enableAutomaticUpgrade is not false.
    ExtensionType(
        "Azure Monitor Agent",
        "Microsoft.Azure.Monitor",
        "AzureMonitorWindowsAgent",
        _W,
        ("1.28.0.0", "1.30.0.0", "1.32.0.0", "1.34.0.0"),
        True,
        weight=6,
    ),
    ExtensionType(
        "Azure Monitor Agent",
        "Microsoft.Azure.Monitor",
        "AzureMonitorLinuxAgent",
        _L,
        ("1.29.7", "1.31.1", "1.33.2", "1.35.1"),
        True,
        weight=6,
    ),
    ExtensionType(
        "Dependency agent",
        "Microsoft.Azure.Monitoring.DependencyAgent",
        "DependencyAgentWindows",
        _W,
        ("9.10.17.25320", "9.10.19.29350", "9.10.20.31260"),
        True,
        weight=2,
    ),
    ExtensionType(
        "Dependency agent",
        "Microsoft.Azure.Monitoring.DependencyAgent",
        "DependencyAgentLinux",
        _L,
        ("9.10.17.25320", "9.10.19.29350", "9.10.20.31260"),
        True,
        weight=2,
    ),
    ExtensionType(
        "Key Vault",
        "Microsoft.Azure.KeyVault",
        "KeyVaultForWindows",
        _W,
        ("3.0.2258.3", "3.1.2466.4", "3.2.2681.5"),
        True,
        ("KeyVaultForWindows", "KVVMExtensionForWindows"),
    ),
    ExtensionType(
        "Key Vault",
        "Microsoft.Azure.KeyVault",
        "KeyVaultForLinux",
        _L,
        ("2.0.8", "3.0.2", "3.1.1"),
        True,
        ("KeyVaultForLinux", "KVVMExtensionForLinux"),
    ),
    ExtensionType(
        "Azure Update Manager",
        "Microsoft.CPlat.Core",
        "WindowsOsUpdateExtension",
        _W,
        ("1.0.19.0", "1.0.21.0", "1.0.24.0"),
        True,
        weight=3,
    ),
    ExtensionType(
        "Azure Update Manager",
        "Microsoft.CPlat.Core",
        "LinuxOsUpdateExtension",
        _L,
        ("1.0.18.0", "1.0.21.0", "1.0.24.0"),
        True,
        weight=3,
    ),
    ExtensionType(
        "Hybrid Runbook Worker",
        "Microsoft.Azure.Automation.HybridWorker",
        "HybridWorkerForWindows",
        _W,
        ("1.1.12", "1.1.13", "1.1.15"),
        True,
    ),
    ExtensionType(
        "Hybrid Runbook Worker",
        "Microsoft.Azure.Automation.HybridWorker",
        "HybridWorkerForLinux",
        _L,
        ("1.1.12", "1.1.13", "1.1.15"),
        True,
    ),
    ExtensionType(
        "Network Watcher",
        "Microsoft.Azure.NetworkWatcher",
        "NetworkWatcherAgentWindows",
        _W,
        ("1.4.2423.1", "1.4.2798.3", "1.4.3422.1"),
        True,
        weight=0.5,
    ),
    ExtensionType(
        "Network Watcher",
        "Microsoft.Azure.NetworkWatcher",
        "NetworkWatcherAgentLinux",
        _L,
        ("1.4.2345.1", "1.4.2884.3", "1.4.3401.1"),
        True,
        weight=0.5,
    ),
    ExtensionType(
        "Guest Attestation",
        "Microsoft.Azure.Security.WindowsAttestation",
        "GuestAttestation",
        _W,
        ("1.0.0.1", "1.0.0.3"),
        True,
        weight=0.5,
    ),
    ExtensionType(
        "Guest Attestation",
        "Microsoft.Azure.Security.LinuxAttestation",
        "GuestAttestation",
        _L,
        ("1.0.2", "1.0.5"),
        True,
        weight=0.5,
    ),
    ExtensionType(
        "Microsoft Antimalware",
        "Microsoft.Azure.Security",
        "IaaSAntimalware",
        _W,
        ("1.5.5.9", "1.7.0.0", "1.7.0.3"),
        True,
        ("IaaSAntimalware", "MicrosoftAntimalware"),
    ),
    ExtensionType(
        "Defender for SQL",
        "Microsoft.Azure.AzureDefenderForSQL",
        "AdvancedThreatProtection.Windows",
        _W,
        ("2.0.2644.5", "2.0.2710.1", "2.0.2815.7"),
        True,
        ("AdvancedThreatProtection.Windows", "MicrosoftDefenderForSQL"),
        weight=0.5,
        sql=True,
    ),
    # Arc installs this one itself wherever it finds SQL Server.
    ExtensionType(
        "Azure extension for SQL Server",
        "Microsoft.AzureData",
        "WindowsAgent.SqlServer",
        _W,
        ("1.1.2781.18", "1.1.2859.223", "1.1.2930.8"),
        True,
        sql=True,
    ),
    # Not supported: never upgraded by the platform, whatever the flag says.
    ExtensionType(
        "Microsoft Defender for Endpoint",
        "Microsoft.Azure.AzureDefenderForServers",
        "MDE.Windows",
        _W,
        ("1.0.9.7", "1.0.11.4"),
        False,
        weight=4,
    ),
    ExtensionType(
        "Microsoft Defender for Endpoint",
        "Microsoft.Azure.AzureDefenderForServers",
        "MDE.Linux",
        _L,
        ("1.0.4.0", "1.0.6.2"),
        False,
        weight=4,
    ),
    ExtensionType(
        "Change Tracking and Inventory",
        "Microsoft.Azure.ChangeTrackingAndInventory",
        "ChangeTracking-Windows",
        _W,
        ("2.20.0.0", "2.24.0.0"),
        False,
    ),
    ExtensionType(
        "Change Tracking and Inventory",
        "Microsoft.Azure.ChangeTrackingAndInventory",
        "ChangeTracking-Linux",
        _L,
        ("2.20.0.0", "2.24.0.0"),
        False,
    ),
    ExtensionType(
        "Custom Script",
        "Microsoft.Compute",
        "CustomScriptExtension",
        _W,
        ("1.10.12", "1.10.15"),
        False,
        ("CustomScriptExtension", "bootstrap-script"),
    ),
    ExtensionType(
        "Custom Script",
        "Microsoft.Azure.Extensions",
        "CustomScript",
        _L,
        ("2.1.6", "2.1.10"),
        False,
        ("CustomScript", "bootstrap-script"),
    ),
)

#: (publisher, type) of every extension the platform upgrades automatically, spelled as Azure does.
SUPPORTED_EXTENSION_TYPES: frozenset[tuple[str, str]] = frozenset(t.key for t in CATALOG if t.supported)

#: (publisher, type) -> the version the platform rolls out, for every type in the catalogue.
LATEST_EXTENSION_VERSIONS: dict[tuple[str, str], str] = {t.key: t.latest for t in CATALOG}

_BY_KEY = {type_key(*t.key): t for t in CATALOG}


def catalog_entry(publisher: str, type_: str) -> ExtensionType | None:
    """The catalogue's entry for a publisher/type pair, compared ignoring case."""
    return _BY_KEY.get(type_key(publisher, type_))


def for_os(os_type: str) -> tuple[ExtensionType, ...]:
    return tuple(t for t in CATALOG if t.os_type == os_type)
