"""How Connected Machine agents behave over time once automatic upgrade is on.

Nothing runs in the background: :func:`settle` replays, in time order, every event a
machine would have seen up to ``now`` (onboarding, reconnect, disconnect, delete, upgrade attempts, and its
extensions' upgrades and rollbacks from extensions.py). The
simulator calls it whenever a machine is read, so a virtual clock may jump days and
the fleet is still exactly where it would be.

The model follows reference §6: the flag only matters on Connected agents >= 1.57;
after a propagation delay the agent upgrades in a daily off-peak window; a failure
is retried every ``retry_interval`` (3 days, as the seed article's check script
assumes; the docs only say "periodically"). The docs promise only "within one version
of the latest", so an agent one release behind may fail every attempt (``STUCK``) or
make none (``NEVER_ATTEMPTS``) and still be where Azure means it to be.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from local_stack.simulator import extensions
from local_stack.simulator.extensions import Extension, ExtensionModel
from local_stack.simulator.props import MISSING, Recorder, format_timestamp, set_property

if TYPE_CHECKING:
    from local_stack.simulator.fleet import Machine

#: Outcomes an agent's upgrade attempts can have.
SUCCEED = "succeed"  # first attempt succeeds
RECOVER = "recover"  # fails `failures` times, then succeeds on a retry
STUCK = "stuck"  # every retry fails again
STUCK_NO_RETRY = "stuck-no-retry"  # fails once and never tries again
NEVER_ATTEMPTS = "never-attempts"  # counts itself current ("within one version of the latest"): no
# attempt, so lastAttempt* never appear
OUTCOMES = (SUCCEED, RECOVER, STUCK, STUCK_NO_RETRY, NEVER_ATTEMPTS)

LATEST_VERSIONS = {"windows": "1.67.03504.3207", "linux": "1.67.03504.1320"}

FAILURE_MESSAGES = (
    'AZCM0165: Failed to download the agent package: Get "https://aka.ms/AzureConnectedMachineAgent": '
    "dial tcp 20.50.2.1:443: i/o timeout",
    "AZCM0166: Failed to verify the agent package signature: the package hash does not match the catalog",
    "AZCM0167: Failed to install the agent package: msiexec exited with code 1603 (fatal error during installation)",
    "AZCM0168: Failed to install the agent package: dpkg was interrupted, you must manually run 'dpkg --configure -a'",
    "AZCM0169: Agent services did not start after the upgrade; the previous version was restored",
)

#: ``status`` value the agent must have to act on the flag.
CONNECTED = "Connected"


def parse_version(value: Any) -> tuple[int, int] | None:
    """``(major, minor)`` compared as integers (reference §5.1), or None if unreadable."""
    if not isinstance(value, str):
        return None
    match = re.match(r"^\s*(\d+)\.(\d+)", value)
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass
class UpgradeBehaviour:
    """Per-machine randomness, drawn once by the generator (or set by a test)."""

    outcome: str = SUCCEED
    failures: int = 1  # failed attempts before success, for RECOVER
    propagation_delay: timedelta = timedelta(days=2)
    window_offset: timedelta = timedelta(minutes=30)  # where in the off-peak window this agent runs
    failure_message: str = FAILURE_MESSAGES[0]

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")


@dataclass
class AgentModel:
    """Fleet-wide rules of the upgrade service."""

    latest_versions: dict[str, str] = field(default_factory=lambda: dict(LATEST_VERSIONS))
    min_version: tuple[int, int] = (1, 57)
    window_start: time = time(1, 0)
    window_length: timedelta = timedelta(hours=2)
    retry_interval: timedelta = timedelta(days=3)
    #: Releases that ship later, oldest first: (when, versions by OS type). Agents current until then
    #: upgrade again in their first window after a release ships.
    later_releases: tuple[tuple[datetime, dict[str, str]], ...] = ()

    def target_version(self, os_type: str, at: datetime | None = None) -> str | None:
        """The newest release for this OS at ``at`` (None: the one the fleet started with)."""
        versions = self.latest_versions
        for ships_at, later in self.later_releases:
            if at is not None and ships_at <= at:
                versions = later
        return versions.get((os_type or "").lower())

    def next_release_after(self, moment: datetime, os_type: str, newer_than: tuple[int, int]) -> datetime | None:
        """When the first release newer than ``newer_than`` ships after ``moment``, if one does."""
        for ships_at, versions in self.later_releases:
            release = parse_version(versions.get((os_type or "").lower()))
            if ships_at > moment and release is not None and release > newer_than:
                return ships_at
        return None

    def first_slot(self, ready: datetime, offset: timedelta) -> datetime:
        """The first off-peak slot of this agent at or after ``ready``."""
        offset = min(offset, self.window_length)
        day = ready.astimezone(UTC).date()
        slot = datetime.combine(day, self.window_start, UTC) + offset
        return slot if slot >= ready else slot + timedelta(days=1)


def acts_on_flag(machine: Machine, model: AgentModel) -> bool:
    """True while the agent would act on the flag: enabled, Connected and old enough."""
    props = machine.properties
    upgrade = props.get("agentUpgrade")
    if not isinstance(upgrade, dict) or upgrade.get("enableAutomaticUpgrade") is not True:
        return False
    if machine.enabled_at is None or props.get("status") != CONNECTED:
        return False
    current = parse_version(props.get("agentVersion"))
    return current is not None and model.min_version <= current


def wants_upgrade(machine: Machine, model: AgentModel, at: datetime | None = None) -> bool:
    """True while the agent would act on the flag and is behind the latest release at ``at``."""
    current = parse_version(machine.properties.get("agentVersion"))
    target = parse_version(model.target_version(machine.os_type, at))
    return acts_on_flag(machine, model) and current is not None and target is not None and current < target


def next_attempt_at(machine: Machine, model: AgentModel) -> datetime | None:
    if not acts_on_flag(machine, model):
        return None
    behaviour = machine.behaviour
    if behaviour.outcome == NEVER_ATTEMPTS or (behaviour.outcome == STUCK_NO_RETRY and machine.attempts >= 1):
        return None
    assert machine.enabled_at is not None
    first = model.first_slot(machine.enabled_at + behaviour.propagation_delay, behaviour.window_offset)
    due = first + machine.attempts * model.retry_interval  # the first attempt, then retries of failed ones
    if machine.last_attempt_at is not None and machine.attempts > 0 and not _last_attempt_failed(machine):
        since = machine.last_attempt_at  # current since then: waits for a newer release
    elif wants_upgrade(machine, model, due):
        return due
    else:
        since = due
    current = parse_version(machine.properties.get("agentVersion"))
    assert current is not None
    ships_at = model.next_release_after(since, machine.os_type, current)
    return None if ships_at is None else model.first_slot(ships_at, behaviour.window_offset)


def _last_attempt_failed(machine: Machine) -> bool:
    upgrade = machine.properties.get("agentUpgrade")
    return isinstance(upgrade, dict) and upgrade.get("lastAttemptStatus") == "Failed"


def _next_event(
    machine: Machine, model: AgentModel, extension_model: ExtensionModel | None
) -> tuple[datetime, int, str, Extension | None] | None:
    """The machine's earliest event; at the same moment a disconnect comes first, then a delete,
    then the agent's upgrade, then its extensions' (which need the machine Connected). A deleted
    machine's only event is its onboarding, if it has one."""
    if machine.deleted:
        return (machine.onboard_at, 0, "onboard", None) if machine.onboard_at is not None else None
    candidates: list[tuple[datetime, int, str, Extension | None]] = []
    if machine.reconnect_at is not None:
        candidates.append((machine.reconnect_at, 0, "reconnect", None))
    if machine.disconnect_at is not None:
        candidates.append((machine.disconnect_at, 0, "disconnect", None))
    if machine.delete_at is not None:
        candidates.append((machine.delete_at, 1, "delete", None))
    attempt = next_attempt_at(machine, model)
    if attempt is not None:
        candidates.append((attempt, 2, "agent-upgrade", None))
    if extension_model is not None:
        due = extensions.next_event(machine, extension_model, machine.properties.get("status") == CONNECTED)
        if due is not None:
            candidates.append((due[0], 3, due[1], due[2]))
    return min(candidates, key=lambda c: (c[0], c[1])) if candidates else None


def settle(
    machine: Machine,
    now: datetime,
    model: AgentModel,
    record: Recorder | None = None,
    extension_model: ExtensionModel | None = None,
) -> bool:
    """Apply every event due up to ``now`` (onboarding, reconnecting, disconnecting, deletion, upgrade
    attempts, and the extensions' given their model), in time order; True if anything changed."""
    changed = False
    while True:
        event = _next_event(machine, model, extension_model)
        if event is None or event[0] > now:
            break
        at, _, kind, ext = event
        changed = True
        if kind == "onboard":
            machine.onboard_at = None
            machine.deleted = False
            machine.revision += 1
            set_property(machine, ("lastStatusChange",), format_timestamp(at), at, "onboard", record)
            if record is not None:
                record(machine, "deleted", True, False, at, "onboard")
        elif kind == "reconnect":
            machine.reconnect_at = None
            if machine.properties.get("status") != CONNECTED:
                set_property(machine, ("status",), CONNECTED, at, "reconnect", record)
                set_property(machine, ("lastStatusChange",), format_timestamp(at), at, "reconnect", record)
                if machine.enabled_at is not None:  # the agent reads its settings anew once back
                    machine.enabled_at, machine.attempts = at, 0
        elif kind == "disconnect":
            machine.disconnect_at = None
            if machine.properties.get("status") == CONNECTED:
                set_property(machine, ("status",), "Disconnected", at, "disconnect", record)
                set_property(machine, ("lastStatusChange",), format_timestamp(at), at, "disconnect", record)
        elif kind == "delete":
            machine.delete_at = None
            machine.deleted = True
            machine.revision += 1
            if record is not None:
                record(machine, "deleted", False, True, at, "delete")
        elif kind == "agent-upgrade":
            _attempt(machine, at, model, record)
        else:
            assert ext is not None and extension_model is not None
            extensions.apply_event(machine, ext, kind, at, extension_model, record)
    return changed


def _attempt(machine: Machine, at: datetime, model: AgentModel, record: Recorder | None) -> None:
    behaviour = machine.behaviour
    index = machine.attempts
    machine.attempts += 1
    machine.last_attempt_at = at
    target = model.target_version(machine.os_type, at)
    success = behaviour.outcome == SUCCEED or (behaviour.outcome == RECOVER and index >= behaviour.failures)
    cause = "agent-upgrade"
    if success:
        set_property(machine, ("agentVersion",), target, at, cause, record)
    set_property(machine, ("agentUpgrade", "lastAttemptDesiredVersion"), target, at, cause, record)
    set_property(machine, ("agentUpgrade", "lastAttemptStatus"), "Success" if success else "Failed", at, cause, record)
    set_property(machine, ("agentUpgrade", "lastAttemptTimestamp"), format_timestamp(at), at, cause, record)
    set_property(
        machine,
        ("agentUpgrade", "lastAttemptMessage"),
        MISSING if success else behaviour.failure_message,
        at,
        cause,
        record,
    )
