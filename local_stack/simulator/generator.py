"""The seeded fleet generator: a realistic tenant from a :class:`FleetSpec`, the same for the same spec.

Shares in the spec are exact (see :func:`_allocate`), so even a small fleet has every
category the product handles; options that are off by default draw from their own random
streams, so switching one on leaves the rest of the fleet as it was.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from local_stack.simulator import agents, odd_estate
from local_stack.simulator.agents import AgentModel, UpgradeBehaviour
from local_stack.simulator.extension_catalog import for_os
from local_stack.simulator.extensions import (
    FAILS_AND_ROLLS_BACK,
    INSTALL_FAILURE_MESSAGES,
    UPGRADE_FAILURE_MESSAGES,
    UPGRADES,
    Extension,
    ExtensionBehaviour,
    ExtensionModel,
)
from local_stack.simulator.fates import ExtensionFateRules, FateLedger, FateRules
from local_stack.simulator.fleet import (
    DEFAULT_NOW,
    DELETED,
    Fleet,
    Machine,
    Subscription,
    base_properties,
    full_version,
    name_key,
    seeded_guid,
)


@dataclass
class FleetSpec:
    """Knobs for :func:`generate_fleet`. Shares are fractions of machines unless noted."""

    seed: int = 7
    subscriptions: int = 20
    machines: int = 2000
    now: datetime = DEFAULT_NOW  # generation time; start the clock here
    tenant_id: str | None = None  # derived from the seed when None
    locations: Sequence[str] = ("eastus", "westeurope", "uksouth", "centralus", "southeastasia", "westus2")
    resource_groups_per_subscription: tuple[int, int] = (2, 6)
    windows_share: float = 0.55
    status_weights: dict[str, float] = field(
        default_factory=lambda: {
            "Connected": 0.82,
            "Disconnected": 0.08,
            "Expired": 0.03,
            "Error": 0.03,
            "AwaitingConnection": 0.02,
            "Provisioning": 0.02,
        }
    )
    # agent versions: supported (1.56-1.67), too old (1.40-1.55), ancient (1.20-1.39), odd strings
    version_weights: dict[str, float] = field(default_factory=lambda: {"recent": 0.80, "old": 0.16, "ancient": 0.04})
    odd_versions: Sequence[str | None] = (
        "",
        None,
        "1.58",
        "1.60.03293",
        "01.059.03224.0693",
        "1.61.03310848",
        "1.62.0-beta",
        "garbage",
    )
    # agentUpgrade bag: absent / {"enableAutomaticUpgrade": false} / true (enabled in the past)
    agent_upgrade_weights: dict[str, float] = field(
        default_factory=lambda: {"absent": 0.40, "disabled": 0.30, "enabled": 0.30}
    )
    enabled_within: timedelta = timedelta(days=14)  # enabled_at of pre-enabled machines: this far back
    exclusion_tag: str = "arc-sweeper"
    exclusion_value: str = "exclude"
    excluded_share: float = 0.03
    disabled_subscriptions: int = 2
    warned_subscriptions: int = 1
    past_due_subscriptions: int = 1
    expired_subscriptions: int = 0  # read-only, like Disabled
    deleted_subscriptions: int = 0  # not listed, 404 inside, invisible to ARG
    write_forbidden_subscriptions: int = 1  # readable, PATCH 403
    unreadable_subscriptions: int = 1  # known here, 403 on GET, invisible to ARG
    locked_machine_share: float = 0.01
    conflict_share: float = 0.0  # machines another writer holds: 409 for a few PATCHes
    conflict_attempts: tuple[int, int] = (1, 3)  # how many PATCHes each of them refuses
    locked_resource_groups: int = 1
    write_forbidden_machine_share: float = 0.005
    # upgrade behaviour, drawn for every machine (it matters once the flag is on)
    failure_share: float = 0.15  # machines whose first attempt fails
    recover_share: float = 0.5  # of those, succeed on a later retry
    stuck_no_retry_share: float = 0.5  # of the stuck rest, never retry
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
    # extensions (their own random stream): how many a machine has, how they stand, how upgrades go
    extensions_per_machine: tuple[int, int] = (0, 5)
    extension_auto_upgrade_weights: dict[str, float] = field(
        default_factory=lambda: {"absent": 0.35, "enabled": 0.40, "disabled": 0.25}
    )  # enableAutomaticUpgrade missing / true / false
    extension_latest_share: float = 0.5  # at their type's latest version; the rest at older ones
    extension_failed_share: float = 0.03  # failed installs: provisioningState Failed, status Error
    extension_rollback_share: float = 0.1  # upgrades that fail (once or twice) and are rolled back first
    extension_upgrade_delay: tuple[timedelta, timedelta] = (timedelta(days=1), timedelta(days=3))
    extension_rollback_after: tuple[timedelta, timedelta] = (timedelta(minutes=30), timedelta(hours=6))
    extension_retry_interval: timedelta = timedelta(hours=1)  # after a rollback, to the next attempt's slot
    sql_server_share: float = 0.15  # machines running SQL Server, if Windows (SQL extensions)
    # on top of `machines`: the odd-but-legal block of odd_estate.py (about 50 machines, 6 subscriptions)
    odd_but_legal: bool = False
    # a week that changes (off by default), each within `changes_within` after `now`: machines onboarded
    # (share of `machines`, on top of them), machines Disconnected or in Error at `now` reconnecting (share
    # of those), and the release after `latest_versions` shipping `release_after` after `now`
    onboard_share: float = 0.0
    reconnect_share: float = 0.0
    changes_within: timedelta = timedelta(days=7)
    release_after: timedelta | None = None

    def extension_model(self) -> ExtensionModel:
        return ExtensionModel(retry_interval=self.extension_retry_interval)

    def agent_model(self) -> AgentModel:
        later = ()
        if self.release_after is not None:
            later = ((self.now + self.release_after, next_release(self.latest_versions)),)
        return AgentModel(
            latest_versions=dict(self.latest_versions),
            min_version=self.min_auto_upgrade_version,
            window_start=self.window_start,
            window_length=self.window_length,
            retry_interval=self.retry_interval,
            later_releases=later,
        )


def next_release(latest_versions: dict[str, str]) -> dict[str, str]:
    """Full versions of the release after `latest_versions`, per OS (1.67 -> 1.68)."""
    later = {}
    for os_type, version in latest_versions.items():
        parsed = agents.parse_version(version)
        if parsed is None:
            raise ValueError(f"latest version {version!r} for {os_type} is not MAJOR.MINOR...")
        later[os_type] = full_version(parsed[1] + 1, os_type)
    return later


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


def _between(rng: random.Random, bounds: tuple[timedelta, timedelta]) -> timedelta:
    lo, hi = bounds
    return lo + (hi - lo) * rng.random()


def _extensions(rng: random.Random, spec: FleetSpec, os_type: str, sql_server: bool) -> list[Extension]:
    """A machine's extensions: the more common types more often (a weighted draw without
    replacement), at the latest or an older version in use, opted in, out or by default. Where
    SQL Server runs, its extensions come on top, each with the chance its weight gives."""
    pool = [t for t in for_os(os_type) if not t.sql]
    count = min(len(pool), rng.randint(*spec.extensions_per_machine))
    chosen = sorted(pool, key=lambda t: rng.random() ** (1 / t.weight), reverse=True)[:count]
    if sql_server:
        chosen += [t for t in for_os(os_type) if t.sql and rng.random() < t.weight]
    flags = {"absent": None, "enabled": True, "disabled": False}
    labels = list(spec.extension_auto_upgrade_weights)
    exts = []
    for entry in chosen:
        version = entry.latest if rng.random() < spec.extension_latest_share else rng.choice(entry.versions[:-1])
        flag = flags[rng.choices(labels, weights=[spec.extension_auto_upgrade_weights[k] for k in labels])[0]]
        failed = rng.choice(INSTALL_FAILURE_MESSAGES) if rng.random() < spec.extension_failed_share else None
        behaviour = ExtensionBehaviour(
            outcome=FAILS_AND_ROLLS_BACK if rng.random() < spec.extension_rollback_share else UPGRADES,
            delay=_between(rng, spec.extension_upgrade_delay),
            failures=rng.choice((1, 2)),
            rollback_after=_between(rng, spec.extension_rollback_after),
            failure_message=rng.choice(UPGRADE_FAILURE_MESSAGES),
        )
        exts.append(
            Extension.build(
                entry.publisher,
                entry.type,
                version,
                name=rng.choice(entry.resource_names),
                auto_upgrade=flag,
                failed=failed,
                behaviour=behaviour,
                pending_since=spec.now,
            )
        )
    return exts


_RG_WORDS = ("arc", "servers", "onprem", "datacenter", "branch", "prod", "dev", "sql", "web", "infra")
_HOST_PREFIXES = ("SRV", "srv", "app", "web", "db", "WIN", "lnx", "fs", "dc", "k8s-node")


def generate_fleet(spec: FleetSpec = FleetSpec()) -> Fleet:
    """A deterministic, realistic fleet: same spec (seed and ``now``), same fleet."""
    rng = random.Random(spec.seed)
    tenant_id = spec.tenant_id or seeded_guid(rng)
    model = spec.agent_model()
    now = spec.now

    subs: list[Subscription] = []
    for i in range(spec.subscriptions):
        subs.append(
            Subscription(
                seeded_guid(rng),
                f"{rng.choice(['Contoso', 'Fabrikam', 'Northwind'])}-"
                f"{rng.choice(['Prod', 'Dev', 'Shared', 'Retail', 'Plant'])}-{i + 1:02d}",
            )
        )
    # Special subscriptions take distinct slots from the end so the first ones stay plain.
    special = list(range(len(subs) - 1, -1, -1))
    for count, apply in (
        (spec.unreadable_subscriptions, lambda s: setattr(s, "readable", False)),
        (spec.write_forbidden_subscriptions, lambda s: setattr(s, "writable", False)),
        (spec.disabled_subscriptions, lambda s: setattr(s, "state", "Disabled")),
        (spec.warned_subscriptions, lambda s: setattr(s, "state", "Warned")),
        (spec.past_due_subscriptions, lambda s: setattr(s, "state", "PastDue")),
        (spec.expired_subscriptions, lambda s: setattr(s, "state", "Expired")),
        (spec.deleted_subscriptions, lambda s: setattr(s, "state", DELETED)),
    ):
        for _ in range(count):
            if len(special) > 1:  # always keep at least one plain subscription
                apply(subs[special.pop(0)])

    rgs: list[tuple[Subscription, str, str]] = []  # (subscription, rg name, location)
    for sub in subs:
        lo, hi = spec.resource_groups_per_subscription
        for j in range(rng.randint(lo, hi)):
            words = rng.sample(_RG_WORDS, 2)
            name = rng.choice(
                [
                    f"rg-{words[0]}-{words[1]}-{j + 1:02d}",
                    f"RG-{words[0].upper()}-{j + 1:02d}",
                    f"{words[0].capitalize()}_{words[1].capitalize()}.{j + 1}",
                ]
            )
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
    outcomes = _allocate(
        rng,
        n,
        {
            agents.SUCCEED: 1 - fail_share,
            agents.RECOVER: fail_share * spec.recover_share,
            agents.STUCK: fail_share * (1 - spec.recover_share) * (1 - spec.stuck_no_retry_share),
            agents.STUCK_NO_RETRY: fail_share * (1 - spec.recover_share) * spec.stuck_no_retry_share,
        },
    )
    disconnects = _flags(rng, n, spec.disconnect_share)
    deletes = _flags(rng, n, spec.delete_share)
    odd_slots = rng.sample(range(n), min(n, len(spec.odd_versions))) if n >= 4 * len(spec.odd_versions) else []
    odd_of = {slot: spec.odd_versions[k] for k, slot in enumerate(odd_slots)}
    conflict_rng = random.Random(f"conflicts:{spec.seed}")  # its own stream: the default fleet is unchanged
    conflicts = _flags(conflict_rng, n, spec.conflict_share)
    extension_rng = random.Random(f"extensions:{spec.seed}")  # its own stream too, for the same reason
    extension_model = spec.extension_model()
    sql_servers = _flags(extension_rng, n, spec.sql_server_share)  # SQL Server runs on the Windows ones

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

        minor = {
            "recent": lambda: rng.choice(range(56, 68)),
            "old": lambda: rng.randint(40, 55),
            "ancient": lambda: rng.randint(20, 39),
        }[bands[i]]()
        version: str | None = full_version(minor, os_type)
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

        tags = {
            "environment": rng.choice(["prod", "dev", "test", "prod"]),
            "owner": rng.choice(["ops-team", "sql-team", "retail-it", "plant-ot"]),
        }
        if rng.random() < 0.3:
            tags["costCenter"] = str(rng.randint(1000, 9999))
        if excluded[i]:
            tags[spec.exclusion_tag] = spec.exclusion_value

        sql_server = os_type == "windows" and sql_servers[i]
        if sql_server:
            props["mssqlDiscovered"] = "true"
        exts = _extensions(extension_rng, spec, os_type, sql_server)

        behaviour = UpgradeBehaviour(
            outcome=outcomes[i],
            failures=rng.randint(1, 2),
            propagation_delay=lo_delay + (hi_delay - lo_delay) * rng.random(),
            window_offset=spec.window_length * rng.random(),
            failure_message=rng.choice(agents.FAILURE_MESSAGES),
        )
        machine = Machine(
            sub.subscription_id,
            rg,
            name,
            props,
            location=location,
            tags=tags,
            extensions=exts,
            locked=locked[i],
            write_forbidden=forbidden[i],
            behaviour=behaviour,
            enabled_at=enabled_at,
        )
        if disconnects[i] and status == "Connected":
            machine.disconnect_at = now + spec.dynamics_horizon * rng.random()
        if deletes[i]:
            machine.delete_at = now + spec.dynamics_horizon * rng.random()
        if conflicts[i]:
            machine.write_conflicts = conflict_rng.randint(*spec.conflict_attempts)
            machine.conflict_code = conflict_rng.choice(("Conflict", "AnotherOperationInProgress"))
        # Bring pre-enabled machines up to `now`, so the fleet starts consistent (no log).
        agents.settle(machine, now, model, extension_model=extension_model)
        machines.append(machine)

    _schedule_reconnects(spec, machines)
    machines += _onboarded_later(spec, subs, rgs, used)
    if spec.odd_but_legal:
        odd_subs, odd_machines = odd_estate.odd_but_legal(spec, model)
        subs += odd_subs
        machines += odd_machines
    fleet = Fleet(subs, machines, tenant_id=tenant_id, model=model, created_at=now, extension_model=extension_model)
    rules = FateRules(
        exclusion_tag=(spec.exclusion_tag, spec.exclusion_value), min_version=spec.min_auto_upgrade_version
    )
    fleet.fates = FateLedger.of(fleet, rules)
    fleet.extension_fates = FateLedger.of_extensions(fleet, ExtensionFateRules(scope=rules))
    return fleet


def _schedule_reconnects(spec: FleetSpec, machines: list[Machine]) -> None:
    """Some machines Disconnected or in Error come back within the week (their own random stream)."""
    if spec.reconnect_share <= 0:
        return
    rng = random.Random(f"reconnect:{spec.seed}")
    away = [m for m in machines if m.properties.get("status") in ("Disconnected", "Error")]
    for machine in rng.sample(away, round(len(away) * spec.reconnect_share)):
        machine.reconnect_at = spec.now + spec.changes_within * rng.random()


def _onboarded_later(
    spec: FleetSpec, subs: list[Subscription], rgs: list[tuple[Subscription, str, str]], used: set[tuple[str, str, str]]
) -> list[Machine]:
    """Machines onboarded within the week: recent agents, automatic upgrade not set, in Enabled subscriptions."""
    count = round(spec.machines * spec.onboard_share)
    homes = [rg for rg in rgs if rg[0].state == "Enabled" and rg[0].visible]
    if count <= 0 or not homes:
        return []
    rng = random.Random(f"onboard:{spec.seed}")
    lo_delay, hi_delay = spec.propagation_delay
    machines = []
    for k in range(count):
        sub, rg, location = rng.choice(homes)
        os_type = "windows" if rng.random() < spec.windows_share else "linux"
        name = f"new-{os_type[:3]}-{k:04d}"
        used.add((sub.subscription_id, name_key(rg), name_key(name)))
        arrives = spec.now + spec.changes_within * rng.random()
        props = base_properties(
            name,
            os_type,
            full_version(rng.randint(62, 67), os_type),
            "Connected",
            arrives,
            seed=f"onboard:{spec.seed}:{k}",
        )
        behaviour = UpgradeBehaviour(
            outcome=agents.SUCCEED if rng.random() >= spec.failure_share else agents.RECOVER,
            propagation_delay=lo_delay + (hi_delay - lo_delay) * rng.random(),
            window_offset=spec.window_length * rng.random(),
            failure_message=rng.choice(agents.FAILURE_MESSAGES),
        )
        machines.append(
            Machine(
                sub.subscription_id,
                rg,
                name,
                props,
                location=location,
                tags={"environment": "prod", "owner": "ops-team"},
                behaviour=behaviour,
                onboard_at=arrives,
            )
        )
    return machines


def _machine_name(rng: random.Random, i: int, os_type: str) -> str:
    prefix = rng.choice(_HOST_PREFIXES)
    style = rng.random()
    if style < 0.7:
        return f"{prefix}-{rng.choice(['WEB', 'SQL', 'APP', 'FS', 'DC', 'ops'])}-{i:04d}"
    if style < 0.9:
        return f"{prefix}{i:05d}.corp.contoso.com"[:54]
    return f"{prefix}_{os_type}_{i}"
