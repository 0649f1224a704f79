"""The simulated tenant: subscriptions, Arc machines, extensions, and a seeded generator.

The data is kept in ARM's own shape (``properties`` is the camelCase bag GET returns,
missing keys really missing) so the HTTP layer only has to serialise it. Tests can
build a small fleet by hand with :meth:`Machine.build`; :func:`generate_fleet` makes a
realistic one from a :class:`FleetSpec`.
"""
from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, Optional, Sequence

from local_stack.simulator import agents
from local_stack.simulator.agents import AgentModel, UpgradeBehaviour

#: ARM name grammar (reference §1, §13a); use ``fullmatch`` (``$`` would let a trailing newline in).
#: Resource groups: 1-90 Unicode letters and digits, ``_ ( ) - .``, not ending in ``.``.
MACHINE_NAME = re.compile(r"[a-zA-Z0-9-_.]{1,54}")
RESOURCE_GROUP_NAME = re.compile(r"[-\w._()]{1,90}")


def name_key(name: str) -> str:
    """How ARM compares names: ignoring case with simple (one-to-one) case mapping, as .NET's
    OrdinalIgnoreCase does, so "ß" matches itself but not "SS"."""
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in name)


DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-00000000c0de"
DEFAULT_NOW = datetime(2026, 8, 15, 12, 0, tzinfo=timezone.utc)

#: Release table (reference §5.2): minor -> (build, windows revision, linux revision).
#: Builds marked in the reference are verbatim; the others are interpolated.
KNOWN_BUILDS = {
    67: ("03504", "3207", "1320"), 61: ("03310", "2719", None), 60: ("03293", "2680", "809"),
    58: ("03224", "2567", "693"), 57: ("03197", "2516", "640"), 56: ("03167", "2465", "593"),
}
LINUX_1_61 = "1.61.03310848"  # sic, as published


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


@dataclass
class Extension:
    """A ``Microsoft.HybridCompute/machines/extensions`` child resource."""

    name: str
    publisher: str
    type: str
    type_handler_version: str
    enable_automatic_upgrade: bool = True
    provisioning_state: str = "Succeeded"

    def properties(self) -> dict[str, Any]:
        return {
            "publisher": self.publisher,
            "type": self.type,
            "typeHandlerVersion": self.type_handler_version,
            "enableAutomaticUpgrade": self.enable_automatic_upgrade,
            "autoUpgradeMinorVersion": False,
            "settings": {},
            "provisioningState": self.provisioning_state,
            "instanceView": {
                "name": self.name, "type": self.type, "typeHandlerVersion": self.type_handler_version,
                "status": {"code": "0", "level": "Information",
                           "message": f"Extension Message: {self.type} is running"},
            },
        }


EXTENSION_CATALOG = {
    "windows": (
        Extension("AzureMonitorWindowsAgent", "Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent", "1.30.0.0"),
        Extension("MDE.Windows", "Microsoft.Azure.AzureDefenderForServers", "MDE.Windows", "1.0.11.4"),
        Extension("WindowsPatchExtension", "Microsoft.CPlat.Core", "WindowsPatchExtension", "1.5.64", False),
        Extension("ChangeTracking-Windows", "Microsoft.Azure.ChangeTrackingAndInventory",
                  "ChangeTracking-Windows", "2.24.0.0"),
    ),
    "linux": (
        Extension("AzureMonitorLinuxAgent", "Microsoft.Azure.Monitor", "AzureMonitorLinuxAgent", "1.33.2"),
        Extension("MDE.Linux", "Microsoft.Azure.AzureDefenderForServers", "MDE.Linux", "1.0.6.2"),
        Extension("LinuxPatchExtension", "Microsoft.CPlat.Core", "LinuxPatchExtension", "1.6.52", False),
        Extension("ChangeTracking-Linux", "Microsoft.Azure.ChangeTrackingAndInventory",
                  "ChangeTracking-Linux", "2.24.0.0"),
    ),
}


#: Subscription states (reference §13a, Microsoft Learn "Azure subscription states"). ARM's enum has
#: Enabled, Warned, PastDue, Disabled and Deleted; the portal also shows Expired, so it is accepted too.
READ_WRITE_STATES = ("Enabled", "Warned", "PastDue")   # every operation allowed
READ_ONLY_STATES = ("Disabled", "Expired")              # GET and DELETE only; PUT, PATCH and POST refused
DELETED = "Deleted"                                     # no operation at all
SUBSCRIPTION_STATES = READ_WRITE_STATES + READ_ONLY_STATES + (DELETED,)


@dataclass
class Subscription:
    """A subscription and what the simulated caller may do in it."""

    subscription_id: str
    display_name: str
    state: str = "Enabled"            # one of SUBSCRIPTION_STATES, served verbatim
    readable: bool = True             # False: 403 on GET, not listed, invisible to ARG
    writable: bool = True             # False: PATCH 403 AuthorizationFailed
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
    locked: bool = False              # ReadOnly lock on the machine itself: PATCH 409 ScopeLocked, forever
    write_forbidden: bool = False     # no write permission on this machine: PATCH 403
    write_conflicts: int = 0          # another writer (e.g. a policy remediation): the next N PATCHes 409
    conflict_code: str = "Conflict"   # their error code, e.g. AnotherOperationInProgress (never ScopeLocked)
    behaviour: UpgradeBehaviour = field(default_factory=UpgradeBehaviour)
    enabled_at: Optional[datetime] = None   # when the flag last went to true
    attempts: int = 0                 # upgrade attempts since enabled_at
    disconnect_at: Optional[datetime] = None
    delete_at: Optional[datetime] = None
    deleted: bool = False
    principal_id: str = ""
    revision: int = 0                 # bumped on every change; the ARG index syncs on it
    arg_id: Optional[str] = None      # a fault: the id Resource Graph reports instead (see malformed.py)

    def __post_init__(self) -> None:
        self.subscription_id = self.subscription_id.lower()
        if not MACHINE_NAME.fullmatch(self.name):
            raise ValueError(f"machine name {self.name!r} does not match {MACHINE_NAME.pattern}")
        if not RESOURCE_GROUP_NAME.fullmatch(self.resource_group) or self.resource_group.endswith("."):
            raise ValueError(f"invalid resource group name {self.resource_group!r}")
        check_tags(self.tags)
        if self.conflict_code == "ScopeLocked":
            raise ValueError("a lock is `locked=True`; write conflicts are transient and need another code")
        if not self.principal_id:
            self.principal_id = str(uuid.uuid5(uuid.NAMESPACE_URL, self.id.lower()))

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.HybridCompute/machines/{self.name}")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subscription_id, name_key(self.resource_group), name_key(self.name))

    @property
    def os_type(self) -> str:
        return str(self.properties.get("osType", ""))

    @classmethod
    def build(
        cls,
        subscription_id: str,
        resource_group: str,
        name: str,
        *,
        os_type: str = "linux",
        agent_version: Optional[str] = "1.60.03293.809",
        status: str = "Connected",
        auto_upgrade: Optional[bool] = None,
        enabled_at: Optional[datetime] = None,
        last_status_change: Optional[datetime] = None,
        extensions: Optional[list[Extension]] = None,
        **kwargs: Any,
    ) -> "Machine":
        """A machine with a realistic property bag; ``agent_version=None`` omits the key,
        ``auto_upgrade=None`` omits ``agentUpgrade``. ``enabled_at`` (when ``auto_upgrade``
        is true) is when the flag was switched on; it defaults to ``last_status_change``."""
        changed = last_status_change or datetime(2026, 8, 1, 9, 12, 44, 123456, tzinfo=timezone.utc)
        props = base_properties(name, os_type, agent_version, status, changed, seed=name)
        if auto_upgrade is not None:
            props["agentUpgrade"] = {"enableAutomaticUpgrade": auto_upgrade}
            if auto_upgrade and enabled_at is None:
                enabled_at = changed
        if extensions is None:
            extensions = [_copy_extension(e) for e in EXTENSION_CATALOG.get(os_type, ())[:2]]
        return cls(subscription_id, resource_group, name, props, extensions=extensions,
                   enabled_at=enabled_at, **kwargs)


def _copy_extension(ext: Extension) -> Extension:
    return Extension(ext.name, ext.publisher, ext.type, ext.type_handler_version,
                     ext.enable_automatic_upgrade, ext.provisioning_state)


OS_DETAILS = {
    "windows": [("Windows Server 2022 Datacenter", "10.0.20348.2849", "windows", "Datacenter"),
                ("Windows Server 2019 Standard", "10.0.17763.6532", "windows", "Standard"),
                ("Windows Server 2016 Datacenter", "10.0.14393.7515", "windows", "Datacenter"),
                ("Windows Server 2025 Datacenter", "10.0.26100.2314", "windows", "Datacenter")],
    "linux": [("Ubuntu 24.04.3 LTS", "6.8.0-87-generic", "linux", ""),
              ("Ubuntu 22.04.5 LTS", "5.15.0-126-generic", "linux", ""),
              ("Red Hat Enterprise Linux 9.4", "5.14.0-427.42.1.el9_4.x86_64", "linux", ""),
              ("SUSE Linux Enterprise Server 15 SP6", "6.4.0-150600.23.25-default", "linux", "")],
}


def base_properties(name: str, os_type: str, agent_version: Optional[str], status: str,
                    last_status_change: datetime, seed: Any) -> dict[str, Any]:
    """The read-only part of a machine's ``properties`` bag, as GET shows it."""
    rng = random.Random(f"props:{seed}")
    sku, os_version, os_name, edition = rng.choice(OS_DETAILS.get(os_type, OS_DETAILS["linux"]))
    fqdn = f"{name.lower()}.corp.contoso.com" if "." not in name else name.lower()
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "status": status,
        "lastStatusChange": agents.format_timestamp(last_status_change),
        "agentConfiguration": {
            "proxyUrl": "", "incomingConnectionsPorts": [], "extensionsAllowList": [],
            "extensionsBlockList": [], "proxyBypass": [], "extensionsEnabled": "true",
            "guestConfigurationEnabled": "true", "configMode": "full",
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
        "detectedProperties": {"cloudprovider": "N/A", "manufacturer": "VMware, Inc.",
                               "model": "VMware7,1", "processorCount": str(rng.choice([2, 4, 8, 16]))},
    }
    if agent_version is not None:
        props["agentVersion"] = agent_version
    return props


@dataclass
class Fleet:
    """Everything the simulator serves. Build by hand or with :func:`generate_fleet`."""

    subscriptions: list[Subscription]
    machines: list[Machine]
    tenant_id: str = DEFAULT_TENANT_ID
    model: AgentModel = field(default_factory=AgentModel)
    created_at: datetime = DEFAULT_NOW

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

    def subscription(self, subscription_id: str) -> Optional[Subscription]:
        return self._subs.get(subscription_id.lower())

    def find_machine(self, subscription_id: str, resource_group: str, name: str) -> Optional[Machine]:
        return self._machines.get((subscription_id.lower(), name_key(resource_group), name_key(name)))

    def machine_by_id(self, machine_id: str) -> Optional[Machine]:
        parts = machine_id.strip("/").split("/")
        if len(parts) != 8:
            return None
        return self.find_machine(parts[1], parts[3], parts[7])

    def has_resource_group(self, subscription_id: str, resource_group: str) -> bool:
        return (subscription_id.lower(), name_key(resource_group)) in self._rgs

    def resource_groups(self, subscription_id: str) -> list[str]:
        seen: dict[str, str] = {}
        for m in self.machines:
            if m.subscription_id == subscription_id.lower():
                seen.setdefault(name_key(m.resource_group), m.resource_group)
        return sorted(seen.values(), key=str.lower)


@dataclass
class FleetSpec:
    """Knobs for :func:`generate_fleet`. Shares are fractions of machines unless noted."""

    seed: int = 7
    subscriptions: int = 20
    machines: int = 2000
    now: datetime = DEFAULT_NOW                       # generation time; start the clock here
    tenant_id: Optional[str] = None                   # derived from the seed when None
    locations: Sequence[str] = ("eastus", "westeurope", "uksouth", "centralus", "southeastasia", "westus2")
    resource_groups_per_subscription: tuple[int, int] = (2, 6)
    windows_share: float = 0.55
    status_weights: dict[str, float] = field(default_factory=lambda: {
        "Connected": 0.82, "Disconnected": 0.08, "Expired": 0.03, "Error": 0.03,
        "AwaitingConnection": 0.02, "Provisioning": 0.02})
    # agent versions: supported (1.56-1.67), too old (1.40-1.55), ancient (1.20-1.39), odd strings
    version_weights: dict[str, float] = field(default_factory=lambda: {
        "recent": 0.80, "old": 0.16, "ancient": 0.04})
    odd_versions: Sequence[Optional[str]] = (
        "", None, "1.58", "1.60.03293", "01.059.03224.0693", "1.61.03310848", "1.62.0-beta", "garbage")
    # agentUpgrade bag: absent / {"enableAutomaticUpgrade": false} / true (enabled in the past)
    agent_upgrade_weights: dict[str, float] = field(default_factory=lambda: {
        "absent": 0.40, "disabled": 0.30, "enabled": 0.30})
    enabled_within: timedelta = timedelta(days=14)   # enabled_at of pre-enabled machines: this far back
    exclusion_tag: str = "arc-sweeper"
    exclusion_value: str = "exclude"
    excluded_share: float = 0.03
    disabled_subscriptions: int = 2
    warned_subscriptions: int = 1
    past_due_subscriptions: int = 1
    expired_subscriptions: int = 0                  # read-only, like Disabled
    deleted_subscriptions: int = 0                  # not listed, 404 inside, invisible to ARG
    write_forbidden_subscriptions: int = 1          # readable, PATCH 403
    unreadable_subscriptions: int = 1               # known here, 403 on GET, invisible to ARG
    locked_machine_share: float = 0.01
    conflict_share: float = 0.0                      # machines another writer holds: 409 for a few PATCHes
    conflict_attempts: tuple[int, int] = (1, 3)      # how many PATCHes each of them refuses
    locked_resource_groups: int = 1
    write_forbidden_machine_share: float = 0.005
    # upgrade behaviour, drawn for every machine (it matters once the flag is on)
    failure_share: float = 0.15                      # machines whose first attempt fails
    recover_share: float = 0.5                       # of those, succeed on a later retry
    stuck_no_retry_share: float = 0.5                # of the stuck rest, never retry
    propagation_delay: tuple[timedelta, timedelta] = (timedelta(days=1), timedelta(days=4))
    window_start: time = time(1, 0)
    window_length: timedelta = timedelta(hours=2)
    retry_interval: timedelta = timedelta(days=3)
    latest_versions: dict[str, str] = field(default_factory=lambda: dict(agents.LATEST_VERSIONS))
    min_auto_upgrade_version: tuple[int, int] = (1, 57)
    # optional dynamics, scheduled within `dynamics_horizon` after `now`
    disconnect_share: float = 0.02
    delete_share: float = 0.01
    dynamics_horizon: timedelta = timedelta(days=14)
    extensions_per_machine: tuple[int, int] = (0, 3)

    def agent_model(self) -> AgentModel:
        return AgentModel(latest_versions=dict(self.latest_versions), min_version=self.min_auto_upgrade_version,
                          window_start=self.window_start, window_length=self.window_length,
                          retry_interval=self.retry_interval)


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _allocate(rng: random.Random, n: int, weights: dict[str, float]) -> list[str]:
    """Exactly-proportioned labels (each at least once when n allows), shuffled."""
    labels = [k for k, w in weights.items() if w > 0]
    total = sum(weights[k] for k in labels)
    counts = {k: max(1, round(n * weights[k] / total)) if n >= len(labels) else 0 for k in labels}
    out = [k for k in labels for _ in range(counts[k])]
    main = max(labels, key=lambda k: weights[k])
    while len(out) < n:
        out.append(main)
    while len(out) > n:
        out.remove(main)
    rng.shuffle(out)
    return out


def _flags(rng: random.Random, n: int, share: float) -> list[bool]:
    chosen = set(rng.sample(range(n), min(n, round(n * share)))) if share > 0 else set()
    return [i in chosen for i in range(n)]


_RG_WORDS = ("arc", "servers", "onprem", "datacenter", "branch", "prod", "dev", "sql", "web", "infra")
_HOST_PREFIXES = ("SRV", "srv", "app", "web", "db", "WIN", "lnx", "fs", "dc", "k8s-node")


def generate_fleet(spec: FleetSpec = FleetSpec()) -> Fleet:
    """A deterministic, realistic fleet: same spec (seed and ``now``), same fleet."""
    rng = random.Random(spec.seed)
    tenant_id = spec.tenant_id or _guid(rng)
    model = spec.agent_model()
    now = spec.now

    subs: list[Subscription] = []
    for i in range(spec.subscriptions):
        subs.append(Subscription(_guid(rng), f"{rng.choice(['Contoso', 'Fabrikam', 'Northwind'])}-"
                                             f"{rng.choice(['Prod', 'Dev', 'Shared', 'Retail', 'Plant'])}-{i + 1:02d}"))
    # Special subscriptions take distinct slots from the end so the first ones stay plain.
    special = list(range(len(subs) - 1, -1, -1))
    for count, apply in ((spec.unreadable_subscriptions, lambda s: setattr(s, "readable", False)),
                         (spec.write_forbidden_subscriptions, lambda s: setattr(s, "writable", False)),
                         (spec.disabled_subscriptions, lambda s: setattr(s, "state", "Disabled")),
                         (spec.warned_subscriptions, lambda s: setattr(s, "state", "Warned")),
                         (spec.past_due_subscriptions, lambda s: setattr(s, "state", "PastDue")),
                         (spec.expired_subscriptions, lambda s: setattr(s, "state", "Expired")),
                         (spec.deleted_subscriptions, lambda s: setattr(s, "state", DELETED))):
        for _ in range(count):
            if len(special) > 1:  # always keep at least one plain subscription
                apply(subs[special.pop(0)])

    rgs: list[tuple[Subscription, str, str]] = []  # (subscription, rg name, location)
    for sub in subs:
        lo, hi = spec.resource_groups_per_subscription
        for j in range(rng.randint(lo, hi)):
            words = rng.sample(_RG_WORDS, 2)
            name = rng.choice([f"rg-{words[0]}-{words[1]}-{j + 1:02d}", f"RG-{words[0].upper()}-{j + 1:02d}",
                               f"{words[0].capitalize()}_{words[1].capitalize()}.{j + 1}"])
            rgs.append((sub, name, rng.choice(list(spec.locations))))
    for sub, name, _ in rng.sample(rgs, min(spec.locked_resource_groups, len(rgs))):
        sub.locked_resource_groups.add(name)

    n = spec.machines
    os_types = ["windows" if w else "linux" for w in _flags(rng, n, spec.windows_share)]
    statuses = _allocate(rng, n, spec.status_weights)
    bands = _allocate(rng, n, spec.version_weights)
    upgrade_modes = _allocate(rng, n, spec.agent_upgrade_weights)
    excluded = _flags(rng, n, spec.excluded_share)
    locked = _flags(rng, n, spec.locked_machine_share)
    forbidden = _flags(rng, n, spec.write_forbidden_machine_share)
    fail_share = spec.failure_share
    outcomes = _allocate(rng, n, {
        agents.SUCCEED: 1 - fail_share,
        agents.RECOVER: fail_share * spec.recover_share,
        agents.STUCK: fail_share * (1 - spec.recover_share) * (1 - spec.stuck_no_retry_share),
        agents.STUCK_NO_RETRY: fail_share * (1 - spec.recover_share) * spec.stuck_no_retry_share,
    })
    disconnects = _flags(rng, n, spec.disconnect_share)
    conflict_rng = random.Random(f"conflicts:{spec.seed}")   # its own stream: the default fleet is unchanged
    conflicts = _flags(conflict_rng, n, spec.conflict_share)
    deletes = _flags(rng, n, spec.delete_share)
    odd_slots = rng.sample(range(n), min(n, len(spec.odd_versions))) if n >= 4 * len(spec.odd_versions) else []
    odd_of = {slot: spec.odd_versions[k] for k, slot in enumerate(odd_slots)}

    machines: list[Machine] = []
    used: set[tuple[str, str, str]] = set()
    lo_delay, hi_delay = spec.propagation_delay
    for i in range(n):
        sub, rg, location = rgs[rng.randrange(len(rgs))]
        os_type = os_types[i]
        name = _machine_name(rng, i, os_type)
        while (sub.subscription_id, name_key(rg), name_key(name)) in used:
            name = _machine_name(rng, i, os_type)
        used.add((sub.subscription_id, name_key(rg), name_key(name)))

        minor = {"recent": lambda: rng.choice(range(56, 68)), "old": lambda: rng.randint(40, 55),
                 "ancient": lambda: rng.randint(20, 39)}[bands[i]]()
        version: Optional[str] = full_version(minor, os_type)
        if i in odd_of:
            version = odd_of[i]
        status = statuses[i]
        if status == "Expired":
            changed = now - timedelta(days=rng.uniform(46, 200))
        elif status == "Connected":
            changed = now - timedelta(days=rng.uniform(0.5, 90))
        else:
            changed = now - timedelta(days=rng.uniform(0.2, 40))
        props = base_properties(name, os_type, version, status, changed, seed=f"{spec.seed}:{i}")

        enabled_at = None
        if i in odd_of and upgrade_modes[i] == "enabled":
            upgrade_modes[i] = "disabled"  # keep the odd string visible: an enabled agent may upgrade
        if upgrade_modes[i] == "disabled":
            props["agentUpgrade"] = {"enableAutomaticUpgrade": False}
        elif upgrade_modes[i] == "enabled":
            props["agentUpgrade"] = {"enableAutomaticUpgrade": True}
            enabled_at = now - spec.enabled_within * rng.random()

        tags = {"environment": rng.choice(["prod", "dev", "test", "prod"]),
                "owner": rng.choice(["ops-team", "sql-team", "retail-it", "plant-ot"])}
        if rng.random() < 0.3:
            tags["costCenter"] = str(rng.randint(1000, 9999))
        if excluded[i]:
            tags[spec.exclusion_tag] = spec.exclusion_value

        k_lo, k_hi = spec.extensions_per_machine
        catalog = EXTENSION_CATALOG[os_type]
        exts = [_copy_extension(e) for e in rng.sample(catalog, min(len(catalog), rng.randint(k_lo, k_hi)))]

        behaviour = UpgradeBehaviour(
            outcome=outcomes[i],
            failures=rng.randint(1, 2),
            propagation_delay=lo_delay + (hi_delay - lo_delay) * rng.random(),
            window_offset=spec.window_length * rng.random(),
            failure_message=rng.choice(agents.FAILURE_MESSAGES),
        )
        machine = Machine(sub.subscription_id, rg, name, props, location=location, tags=tags, extensions=exts,
                          locked=locked[i], write_forbidden=forbidden[i], behaviour=behaviour,
                          enabled_at=enabled_at)
        if disconnects[i] and status == "Connected":
            machine.disconnect_at = now + spec.dynamics_horizon * rng.random()
        if deletes[i]:
            machine.delete_at = now + spec.dynamics_horizon * rng.random()
        if conflicts[i]:
            machine.write_conflicts = conflict_rng.randint(*spec.conflict_attempts)
            machine.conflict_code = conflict_rng.choice(("Conflict", "AnotherOperationInProgress"))
        # Bring pre-enabled machines up to `now`, so the fleet starts consistent (no log).
        agents.settle(machine, now, model)
        machines.append(machine)

    return Fleet(subs, machines, tenant_id=tenant_id, model=model, created_at=now)


def _machine_name(rng: random.Random, i: int, os_type: str) -> str:
    prefix = rng.choice(_HOST_PREFIXES)
    style = rng.random()
    if style < 0.7:
        return f"{prefix}-{rng.choice(['WEB', 'SQL', 'APP', 'FS', 'DC', 'ops'])}-{i:04d}"
    if style < 0.9:
        return f"{prefix}{i:05d}.corp.contoso.com"[:54]
    return f"{prefix}_{os_type}_{i}"
