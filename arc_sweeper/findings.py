"""What is wrong with one Arc machine's agent, and what the sweeper should do about it.

Classification is pure: the same snapshot and policy always give the same answer, so the
sweep, the reports and the tests all agree on why a machine was (or was not) touched.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from arc_sweeper.catalogue import ReleaseCatalogue
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.versions import AgentVersion, Release, parse_agent_version


class Finding(str, Enum):
    COMPLIANT = "compliant"
    AUTO_UPGRADE_OFF = "auto_upgrade_off"  # false or missing
    TOO_OLD_FOR_AUTO_UPGRADE = "too_old_for_auto_upgrade"  # below the minimum: needs a manual upgrade
    OUT_OF_SUPPORT = "out_of_support"
    NOT_CONNECTED = "not_connected"  # Disconnected, Error, AwaitingConnection or any unknown status
    EXPIRED = "expired"
    EXCLUDED = "excluded"  # carries the exclusion tag
    UNKNOWN_VERSION = "unknown_version"


class Action(str, Enum):
    ENABLE_AUTO_UPGRADE = "enable_auto_upgrade"
    MANUAL_UPGRADE = "manual_upgrade"  # report for manual upgrade
    NONE = "none"


FINDING_EXPLANATIONS: dict[Finding, str] = {
    Finding.COMPLIANT: "Agent is connected, supported and upgrades itself automatically: nothing to do.",
    Finding.AUTO_UPGRADE_OFF: (
        "Automatic agent upgrade is off (agentUpgrade.enableAutomaticUpgrade is false or not set)."
    ),
    Finding.TOO_OLD_FOR_AUTO_UPGRADE: (
        "Agent is older than the minimum version for automatic upgrade (1.57 unless configured"
        " otherwise), so it cannot upgrade itself: upgrade it manually (MSI, package manager,"
        " WSUS or Run Command)."
    ),
    Finding.OUT_OF_SUPPORT: (
        "Agent release is older than the support window: Microsoft supports only agents released"
        " within the last year."
    ),
    Finding.NOT_CONNECTED: (
        "Machine is not connected (Disconnected, Error, AwaitingConnection or an unknown status):"
        " it cannot act on settings until it reconnects."
    ),
    Finding.EXPIRED: (
        "Machine has expired after 45 days disconnected: an administrator must disconnect and"
        " reconnect it before Azure Arc can manage it again."
    ),
    Finding.EXCLUDED: "Machine carries the exclusion tag: the sweeper reports it but never changes it.",
    Finding.UNKNOWN_VERSION: (
        "Agent version is missing or unreadable, so its age and support cannot be judged."
    ),
}

ACTION_EXPLANATIONS: dict[Action, str] = {
    Action.ENABLE_AUTO_UPGRADE: "Turn on automatic agent upgrade with an ARM PATCH of agentUpgrade.",
    Action.MANUAL_UPGRADE: (
        "Report for a manual upgrade: the agent is too old to upgrade itself, whatever the flag says."
    ),
    Action.NONE: "Nothing for the sweeper to change.",
}


@dataclass(frozen=True)
class ClassificationPolicy:
    """The rules a sweep classifies by; `exclusion_tag` is (name, value) or None for none."""

    sweep_date: date
    catalogue: ReleaseCatalogue
    minimum_auto_upgrade_version: Release = (1, 57)
    support_window_months: int = 12
    exclusion_tag: tuple[str, str] | None = None


@dataclass(frozen=True)
class Classification:
    """Every finding that applies (enum order, never empty), the one action, and the parsed version."""

    findings: tuple[Finding, ...]
    action: Action
    version: AgentVersion | None


def classify(machine: MachineSnapshot, policy: ClassificationPolicy) -> Classification:
    """Classify one machine. Never raises on odd field values: they become findings.

    An excluded machine still gets its other findings, so reports show what is wrong with
    it, but its action is always NONE. Only a connected machine at or above the minimum
    version gets ENABLE_AUTO_UPGRADE: a disconnected agent cannot act on the flag, and an
    older one ignores it, so the latter is reported for MANUAL_UPGRADE whatever its status.
    """
    version = parse_agent_version(machine.agent_version)
    status = (machine.status or "").strip().casefold()
    connected = status == "connected"
    excluded = _carries_tag(machine.tags or {}, policy.exclusion_tag)
    auto_upgrade_on = machine.auto_upgrade is True
    too_old = version is not None and version.release < policy.minimum_auto_upgrade_version

    found: set[Finding] = set()
    if not auto_upgrade_on:
        found.add(Finding.AUTO_UPGRADE_OFF)
    if too_old:
        found.add(Finding.TOO_OLD_FOR_AUTO_UPGRADE)
    if version is not None and not policy.catalogue.is_supported(
        version, policy.sweep_date, policy.support_window_months
    ):
        found.add(Finding.OUT_OF_SUPPORT)
    if status == "expired":
        found.add(Finding.EXPIRED)
    elif not connected:
        found.add(Finding.NOT_CONNECTED)
    if excluded:
        found.add(Finding.EXCLUDED)
    if version is None:
        found.add(Finding.UNKNOWN_VERSION)
    findings = tuple(finding for finding in Finding if finding in found) or (Finding.COMPLIANT,)

    if excluded:
        action = Action.NONE
    elif too_old:
        action = Action.MANUAL_UPGRADE
    elif connected and version is not None and not auto_upgrade_on:
        action = Action.ENABLE_AUTO_UPGRADE
    else:
        action = Action.NONE
    return Classification(findings=findings, action=action, version=version)


def _carries_tag(tags: dict[str, str], tag: tuple[str, str] | None) -> bool:
    """Tag names compare case-insensitively, as Azure treats them; values compare exactly."""
    if tag is None:
        return False
    name, value = tag
    return any(key.casefold() == name.casefold() and tag_value == value for key, tag_value in tags.items())
