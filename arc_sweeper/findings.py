"""What is wrong with one Arc machine's agent, and what the sweeper should do about it.

Classification is pure: the same snapshot and policy always give the same answer, so the
sweep, the reports and the tests all agree on why a machine was (or was not) touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from arc_sweeper.catalogue import ReleaseCatalogue
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.resource_ids import parse_machine_id
from arc_sweeper.versions import AgentVersion, Release, parse_agent_version
from arc_sweeper.vocabulary import Action, Finding


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
    A machine whose id is not a well-formed machine id is never acted on: every request the
    sweeper sends is built from that id.
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
    parsed = parse_machine_id(machine.id)
    recognised = parsed is not None and parsed.subscription_id == machine.subscription_id.strip().lower()
    if not recognised:
        found.add(Finding.UNRECOGNISED_ID)
    findings = tuple(finding for finding in Finding if finding in found) or (Finding.COMPLIANT,)

    if excluded or not recognised:
        action = Action.NONE
    elif too_old:
        action = Action.MANUAL_UPGRADE
    elif connected and version is not None and not auto_upgrade_on:
        action = Action.ENABLE_AUTO_UPGRADE
    else:
        action = Action.NONE
    return Classification(findings=findings, action=action, version=version)


def _carries_tag(tags: dict[str, str], tag: tuple[str, str] | None) -> bool:
    """Whether the machine carries the exclusion tag.

    Azure compares tag names case-insensitively. The exclusion is a safety switch, so its
    value is matched generously too: case-insensitively and ignoring surrounding
    whitespace, so that `Arc-Sweeper: " Exclude "` excludes as surely as `arc-sweeper: exclude`.
    """
    if tag is None:
        return False
    name, value = (part.strip().casefold() for part in tag)
    return any(
        key.strip().casefold() == name and str(tag_value).strip().casefold() == value for key, tag_value in tags.items()
    )
