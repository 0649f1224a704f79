"""The simulated tenant: subscriptions, Arc machines and extensions, with ARM's naming rules.

The data is kept in ARM's own shape (``properties`` is the camelCase bag GET returns,
missing keys really missing) so the HTTP layer only has to serialise it. Tests can
build a small fleet by hand with :meth:`Machine.build`; ``generator.generate_fleet``
makes a realistic one from a ``FleetSpec``.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local_stack.simulator import agents
from local_stack.simulator.agents import AgentModel, UpgradeBehaviour
from local_stack.simulator.extension_catalog import type_key
from local_stack.simulator.extensions import Extension, ExtensionModel
from local_stack.simulator.props import format_timestamp

if TYPE_CHECKING:
    from local_stack.simulator.fates import FateLedger

#: ARM name grammar (reference §1, §13a); use ``fullmatch`` (``$`` would let a trailing newline in).
#: Resource groups: 1-90 Unicode letters and digits, ``_ ( ) - .``, not ending in ``.``.
MACHINE_NAME = re.compile(r"[a-zA-Z0-9-_.]{1,54}")
RESOURCE_GROUP_NAME = re.compile(r"[-\w._()]{1,90}")


def name_key(name: str) -> str:
    """How ARM compares names: ignoring case with simple (one-to-one) case mapping, as .NET's
    OrdinalIgnoreCase does, so "ß" matches itself but not "SS"."""
    if name.isascii():  # the common case, and a fast one: every ASCII letter maps to one letter
        return name.upper()
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in name)


DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-00000000c0de"
DEFAULT_NOW = datetime(2026, 8, 15, 12, 0, tzinfo=UTC)

#: Release table (reference §5.2): minor -> (build, windows revision, linux revision).
#: Builds marked in the reference are verbatim; the others are interpolated.
KNOWN_BUILDS = {
    67: ("03504", "3207", "1320"),
    61: ("03310", "2719", None),
    60: ("03293", "2680", "809"),
    58: ("03224", "2567", "693"),
    57: ("03197", "2516", "640"),
    56: ("03167", "2465", "593"),
}
LINUX_1_61 = "1.61.03310848"  # sic, as published


def seeded_guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def full_version(minor: int, os_type: str) -> str:
    """A four-part build string for 1.<minor> on this OS, as the agent reports it."""
    if minor == 61 and os_type == "linux":
        return LINUX_1_61
    if minor in KNOWN_BUILDS:
        build, win, lin = KNOWN_BUILDS[minor]
    else:
        build = f"{max(100, 3167 + (minor - 56) * 35):05d}"
        win = str(max(100, 2465 + (minor - 56) * 50))
        lin = str(max(20, 593 + (minor - 56) * 45))
    return f"1.{minor}.{build}.{win if os_type == 'windows' else lin}"


def one_release_behind(model: AgentModel, os_type: str) -> str:
    """The full version of the release before the model's latest (N-1) on this OS."""
    latest = agents.parse_version(model.target_version(os_type))
    if latest is None:
        raise ValueError(f"no latest version for os type {os_type!r}")
    return full_version(latest[1] - 1, os_type)


#: What :meth:`Machine.build` installs unless told otherwise: Azure Monitor Agent (supported) and
#: Defender for Endpoint (not), both at their latest version, so a hand-written fleet sees no
#: extension upgrade unless a test asks for one.
DEFAULT_EXTENSIONS = {
    "windows": (
        ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent"),
        ("Microsoft.Azure.AzureDefenderForServers", "MDE.Windows"),
    ),
    "linux": (
        ("Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent"),
        ("Microsoft.Azure.AzureDefenderForServers", "MDE.Linux"),
    ),
}


def default_extensions(os_type: str) -> list[Extension]:
    return [Extension.build(publisher, ext_type) for publisher, ext_type in DEFAULT_EXTENSIONS.get(os_type, ())]


#: Subscription states (reference §13a, Microsoft Learn "Azure subscription states"). ARM's enum has
#: Enabled, Warned, PastDue, Disabled and Deleted; the portal also shows Expired, so it is accepted too.
READ_WRITE_STATES = ("Enabled", "Warned", "PastDue")  # every operation allowed
READ_ONLY_STATES = ("Disabled", "Expired")  # GET and DELETE only; PUT, PATCH and POST refused
DELETED = "Deleted"  # no operation at all
SUBSCRIPTION_STATES = READ_WRITE_STATES + READ_ONLY_STATES + (DELETED,)


@dataclass
class Subscription:
    """A subscription and what the simulated caller may do in it."""

    subscription_id: str
    display_name: str
    state: str = "Enabled"  # one of SUBSCRIPTION_STATES, served verbatim
    readable: bool = True  # False: 403 on GET, not listed, invisible to ARG
    writable: bool = True  # False: PATCH 403 AuthorizationFailed
    locked_resource_groups: set[str] = field(default_factory=set)  # ReadOnly locks, any case

    def __post_init__(self) -> None:
        self.subscription_id = self.subscription_id.lower()
        if self.state not in SUBSCRIPTION_STATES:
            raise ValueError(f"subscription state {self.state!r} is not one of {SUBSCRIPTION_STATES}")

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    @property
    def deleted(self) -> bool:
        return self.state == DELETED

    @property
    def read_only(self) -> bool:
        return self.state in READ_ONLY_STATES

    @property
    def visible(self) -> bool:
        """Whether the caller sees it at all: listed, readable over ARM, in Resource Graph."""
        return self.readable and not self.deleted

    def rg_locked(self, resource_group: str) -> bool:
        return name_key(resource_group) in {name_key(rg) for rg in self.locked_resource_groups}


#: Tag rules (Microsoft Learn, "Use tags to organize your Azure resources"): at most 50 per resource;
#: names up to 512 characters, without ``< > % & \ ? /``, and case-insensitive (stored as written, so a
#: resource cannot carry ``Arc-Sweeper`` and ``arc-sweeper`` at once); values up to 256 characters,
#: case-sensitive, any string (leading and trailing spaces included).
TAG_NAME_FORBIDDEN = re.compile(r"[<>%&\\?/]")


def check_tags(tags: dict[str, str]) -> None:
    if len(tags) > 50:
        raise ValueError(f"{len(tags)} tags; a resource holds at most 50")
    seen: dict[str, str] = {}
    for name, value in tags.items():
        if not isinstance(name, str) or not 1 <= len(name) <= 512 or TAG_NAME_FORBIDDEN.search(name):
            raise ValueError(f"invalid tag name {name!r}")
        if not isinstance(value, str) or len(value) > 256:
            raise ValueError(f"invalid value for tag {name!r}: {value!r}")
        if name_key(name) in seen:
            raise ValueError(f"tag names {seen[name_key(name)]!r} and {name!r} are the same name to Azure")
        seen[name_key(name)] = name


def check_extensions(extensions: list[Extension]) -> None:
    """A machine holds one extension of a name, and one of a publisher/type pair (as a VM does: a second
    of the same type is refused rather than installed beside the first)."""
    names: set[str] = set()
    types: set[tuple[str, str]] = set()
    for ext in extensions:
        if name_key(ext.name) in names:
            raise ValueError(f"two extensions named {ext.name!r} on one machine")
        if type_key(ext.publisher, ext.type) in types:
            raise ValueError(f"two {ext.publisher}/{ext.type} extensions on one machine")
        names.add(name_key(ext.name))
        types.add(type_key(ext.publisher, ext.type))


@dataclass(eq=False)
class Machine:
    """One Arc server. ``properties`` is the ARM bag; the rest drives the simulation."""

    subscription_id: str
    resource_group: str
    name: str
    properties: dict[str, Any]
    location: str = "eastus"
    tags: dict[str, str] = field(default_factory=dict)
    extensions: list[Extension] = field(default_factory=list)
    locked: bool = False  # ReadOnly lock on the machine itself: PATCH 409 ScopeLocked, forever
    write_forbidden: bool = False  # no write permission on this machine: PATCH 403
    write_conflicts: int = 0  # another writer (e.g. a policy remediation): the next N PATCHes 409
    conflict_code: str = "Conflict"  # their error code, e.g. AnotherOperationInProgress (never ScopeLocked)
    behaviour: UpgradeBehaviour = field(default_factory=UpgradeBehaviour)
    enabled_at: datetime | None = None  # when the flag last went to true
    attempts: int = 0  # upgrade attempts since enabled_at
    last_attempt_at: datetime | None = None
    disconnect_at: datetime | None = None
    reconnect_at: datetime | None = None  # a machine not Connected comes back then
    delete_at: datetime | None = None
    onboard_at: datetime | None = None  # not in Azure until then (absent, like a deleted one)
    deleted: bool = False
    principal_id: str = ""
    revision: int = 0  # bumped on every change; the ARG index syncs on it
    arg_id: str | None = None  # a fault: the id Resource Graph reports instead (see malformed.py)
    oddity: str = ""  # what is odd about it, for the odd-but-legal estate (odd_estate.py)

    def __post_init__(self) -> None:
        self.subscription_id = self.subscription_id.lower()
        if not MACHINE_NAME.fullmatch(self.name):
            raise ValueError(f"machine name {self.name!r} does not match {MACHINE_NAME.pattern}")
        if not RESOURCE_GROUP_NAME.fullmatch(self.resource_group) or self.resource_group.endswith("."):
            raise ValueError(f"invalid resource group name {self.resource_group!r}")
        check_tags(self.tags)
        if self.conflict_code == "ScopeLocked":
            raise ValueError("a lock is `locked=True`; write conflicts are transient and need another code")
        if self.onboard_at is not None:
            self.deleted = True
        if not self.principal_id:
            self.principal_id = str(uuid.uuid5(uuid.NAMESPACE_URL, self.id.lower()))
        check_extensions(self.extensions)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.HybridCompute/machines/{self.name}"
        )

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subscription_id, name_key(self.resource_group), name_key(self.name))

    @property
    def os_type(self) -> str:
        return str(self.properties.get("osType", ""))

    def extension_id(self, ext: Extension) -> str:
        return f"{self.id}/extensions/{ext.name}"

    def find_extension(self, name: str) -> Extension | None:
        """The extension called ``name``, compared as ARM compares names."""
        return next((e for e in self.extensions if name_key(e.name) == name_key(name)), None)

    @classmethod
    def build(
        cls,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        os_type: str = "linux",
        agent_version: str | None = "1.60.03293.809",
        status: str = "Connected",
        auto_upgrade: bool | None = None,
        enabled_at: datetime | None = None,
        last_status_change: datetime | None = None,
        extensions: list[Extension] | None = None,
        **kwargs: Any,
    ) -> Machine:
        """A machine with a realistic property bag; ``agent_version=None`` omits the key,
        ``auto_upgrade=None`` omits ``agentUpgrade``. ``enabled_at`` (when ``auto_upgrade``
        is true) is when the flag was switched on; it defaults to ``last_status_change``."""
        changed = last_status_change or datetime(2026, 8, 1, 9, 12, 44, 123456, tzinfo=UTC)
        props = base_properties(name, os_type, agent_version, status, changed, seed=name)
        if auto_upgrade is not None:
            props["agentUpgrade"] = {"enableAutomaticUpgrade": auto_upgrade}
            if auto_upgrade and enabled_at is None:
                enabled_at = changed
        if extensions is None:
            extensions = default_extensions(os_type)
        return cls(subscription_id, resource_group, name, props, extensions=extensions, enabled_at=enabled_at, **kwargs)


OS_DETAILS = {
    "windows": [
        ("Windows Server 2022 Datacenter", "10.0.20348.2849", "windows", "Datacenter"),
        ("Windows Server 2019 Standard", "10.0.17763.6532", "windows", "Standard"),
        ("Windows Server 2016 Datacenter", "10.0.14393.7515", "windows", "Datacenter"),
        ("Windows Server 2025 Datacenter", "10.0.26100.2314", "windows", "Datacenter"),
    ],
    "linux": [
        ("Ubuntu 24.04.3 LTS", "6.8.0-87-generic", "linux", ""),
        ("Ubuntu 22.04.5 LTS", "5.15.0-126-generic", "linux", ""),
        ("Red Hat Enterprise Linux 9.4", "5.14.0-427.42.1.el9_4.x86_64", "linux", ""),
        ("SUSE Linux Enterprise Server 15 SP6", "6.4.0-150600.23.25-default", "linux", ""),
    ],
}


def base_properties(
    name: str, os_type: str, agent_version: str | None, status: str, last_status_change: datetime, seed: Any
) -> dict[str, Any]:
    """The read-only part of a machine's ``properties`` bag, as GET shows it."""
    rng = random.Random(f"props:{seed}")
    sku, os_version, os_name, edition = rng.choice(OS_DETAILS.get(os_type, OS_DETAILS["linux"]))
    fqdn = f"{name.lower()}.corp.contoso.com" if "." not in name else name.lower()
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "status": status,
        "lastStatusChange": format_timestamp(last_status_change),
        "agentConfiguration": {
            "proxyUrl": "",
            "incomingConnectionsPorts": [],
            "extensionsAllowList": [],
            "extensionsBlockList": [],
            "proxyBypass": [],
            "extensionsEnabled": "true",
            "guestConfigurationEnabled": "true",
            "configMode": "full",
        },
        "cloudMetadata": {"provider": "N/A"},
        "osName": os_name,
        "osType": os_type,
        "osVersion": os_version,
        "osSku": sku,
        "osEdition": edition,
        "vmId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "vmUuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(),
        "displayName": name,
        "machineFqdn": fqdn,
        "dnsFqdn": fqdn,
        "domainName": "corp.contoso.com",
        "adFqdn": fqdn if os_type == "windows" else "",
        "mssqlDiscovered": "false",
        "detectedProperties": {
            "cloudprovider": "N/A",
            "manufacturer": "VMware, Inc.",
            "model": "VMware7,1",
            "processorCount": str(rng.choice([2, 4, 8, 16])),
        },
    }
    if agent_version is not None:
        props["agentVersion"] = agent_version
    return props


def split_extension_id(resource_id: str) -> tuple[str, str] | None:
    """(machine id, extension name) of a path shaped ``/subscriptions/.../machines/{m}/extensions/{e}``."""
    parts = resource_id.strip("/").split("/")
    if len(parts) != 10 or parts[8].lower() != "extensions":
        return None
    return "/" + "/".join(parts[:8]), parts[9]


@dataclass
class Fleet:
    """Everything the simulator serves. Build by hand or with :func:`generate_fleet`."""

    subscriptions: list[Subscription]
    machines: list[Machine]
    tenant_id: str = DEFAULT_TENANT_ID
    model: AgentModel = field(default_factory=AgentModel)
    created_at: datetime = DEFAULT_NOW
    fates: FateLedger | None = None  # what a sweep must do with each machine (fates.py)
    extension_model: ExtensionModel = field(default_factory=ExtensionModel)
    extension_fates: FateLedger | None = None  # what an enabling sweep must do with each extension

    def __post_init__(self) -> None:
        self._subs = {s.subscription_id: s for s in self.subscriptions}
        self._machines: dict[tuple[str, str, str], Machine] = {}
        self._rgs: set[tuple[str, str]] = set()
        for machine in self.machines:
            if machine.subscription_id not in self._subs:
                raise ValueError(f"machine {machine.id} is in an unknown subscription")
            if machine.key in self._machines:
                raise ValueError(f"duplicate machine {machine.id}")
            self._machines[machine.key] = machine
            self._rgs.add(machine.key[:2])
        for sub in self.subscriptions:
            self._rgs.update((sub.subscription_id, name_key(rg)) for rg in sub.locked_resource_groups)
        # The latest versions are rolling out as the fleet begins: opted-in extensions wait from here.
        for machine in self.machines:
            for ext in machine.extensions:
                if ext.due_at is None and ext.rollback_at is None and ext.opted_in:
                    ext.schedule_from(self.created_at)

    def subscription(self, subscription_id: str) -> Subscription | None:
        return self._subs.get(subscription_id.lower())

    def find_machine(self, subscription_id: str, resource_group: str, name: str) -> Machine | None:
        return self._machines.get((subscription_id.lower(), name_key(resource_group), name_key(name)))

    def machine_by_id(self, machine_id: str) -> Machine | None:
        parts = machine_id.strip("/").split("/")
        if len(parts) != 8:
            return None
        return self.find_machine(parts[1], parts[3], parts[7])

    def extension_by_id(self, extension_id: str) -> tuple[Machine, Extension] | None:
        """The machine and extension an id names (``.../machines/{m}/extensions/{e}``), if both exist."""
        split = split_extension_id(extension_id)
        machine = self.machine_by_id(split[0]) if split is not None else None
        ext = machine.find_extension(split[1]) if machine is not None and split is not None else None
        return (machine, ext) if machine is not None and ext is not None else None

    def has_resource_group(self, subscription_id: str, resource_group: str) -> bool:
        return (subscription_id.lower(), name_key(resource_group)) in self._rgs

    def resource_groups(self, subscription_id: str) -> list[str]:
        seen: dict[str, str] = {}
        for m in self.machines:
            if m.subscription_id == subscription_id.lower():
                seen.setdefault(name_key(m.resource_group), m.resource_group)
        return sorted(seen.values(), key=str.lower)
