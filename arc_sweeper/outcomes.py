"""What became of a machine after automatic upgrade was enabled (pure logic).

The follow-up step reads the machine again and asks :func:`follow_up_outcome` what that
snapshot means, given what it remembers from earlier checks; the answer is an
:class:`OutcomeUpdate`, which the step records. The first matching rule wins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from arc_sweeper.catalogue import ReleaseCatalogue
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.timefmt import iso, parse_timestamp
from arc_sweeper.versions import Release, parse_agent_version
from arc_sweeper.vocabulary import Outcome

STUCK_ADVICE = (
    "Upgrade keeps failing. On the machine, read himds.log and azcmagent.log "
    "(%ProgramData%\\AzureConnectedMachineAgent\\Log or /var/opt/azcmagent/log), fix the cause "
    "(proxy, disk, package source), clear the agent's failed automatic-upgrade state and restart "
    "the himds service so the next daily check retries, or upgrade the agent manually."
)


@dataclass(frozen=True)
class Followed:
    """What the follow-up remembers of one enabled machine between checks."""

    enabled_at: str
    version_before: str
    failed_since: str = ""
    disconnected_since: str = ""


@dataclass(frozen=True)
class FollowUpRules:
    catalogue: ReleaseCatalogue
    latest: Release
    stuck_after: timedelta


@dataclass(frozen=True)
class OutcomeUpdate:
    outcome: Outcome
    detail: str
    failed_since: str = ""
    disconnected_since: str = ""
    recovered: bool = False


def _after(timestamp: str, since: str) -> bool:
    """True when `timestamp` is at or after `since`; unparsable times count as recent."""
    when, start = parse_timestamp(timestamp), parse_timestamp(since)
    return when is None or start is None or when >= start


def follow_up_outcome(
    followed: Followed, machine: MachineSnapshot | None, rules: FollowUpRules, now: datetime
) -> OutcomeUpdate:
    """The outcome this check's snapshot shows (None: the machine is gone).

    The latest upgrade attempt after enabling decides: `Success` is upgraded, `Failed` is
    failing (stuck once it has failed for longer than STUCK_AFTER), whatever the version
    says. Without an attempt, a version newer than the one seen when enabling is an upgrade
    (it happened, by whatever path); an agent that was already current and stays so is
    up to date. Never an upgrade that did not happen. Dates remembered from earlier checks
    (failing since, disconnected since) carry over unless this check changes them.
    """
    stamp = iso(now)
    remembered = OutcomeUpdate(Outcome.PENDING, "", followed.failed_since, followed.disconnected_since)
    if machine is None:
        return replace(remembered, outcome=Outcome.GONE, detail="machine no longer exists")
    before, after = parse_agent_version(followed.version_before), parse_agent_version(machine.agent_version)
    recent_attempt = bool(machine.last_attempt_status) and _after(machine.last_attempt_timestamp, followed.enabled_at)
    attempt = machine.last_attempt_status.strip().lower() if recent_attempt else ""
    change = f"agent {followed.version_before or 'unknown'} -> {machine.agent_version or 'unknown'}"

    if attempt == "success" or (not attempt and before is not None and after is not None and after > before):
        return replace(remembered, outcome=Outcome.UPGRADED, detail=change, recovered=bool(followed.failed_since))
    if machine.status.strip().lower() != "connected":
        return replace(
            remembered,
            outcome=Outcome.DISCONNECTED,
            detail=f"status {machine.status or 'missing'}",
            disconnected_since=followed.disconnected_since or machine.last_status_change or stamp,
        )
    if attempt == "failed":
        failed_since = followed.failed_since or machine.last_attempt_timestamp or stamp
        started = parse_timestamp(failed_since) or now
        if now - started >= rules.stuck_after:
            return replace(remembered, outcome=Outcome.STUCK, detail=STUCK_ADVICE, failed_since=failed_since)
        return replace(
            remembered,
            outcome=Outcome.UPGRADE_FAILED,
            failed_since=failed_since,
            detail=machine.last_attempt_message or "upgrade attempt failed",
        )
    if attempt:
        return replace(remembered, detail=f"unrecognised lastAttemptStatus {machine.last_attempt_status!r}")
    if after is not None and rules.catalogue.releases_behind(after, rules.latest) <= 1:
        return replace(
            remembered,
            outcome=Outcome.UP_TO_DATE,
            detail=f"agent {machine.agent_version} is within one release of the latest; no attempt seen",
        )
    return replace(remembered, detail="no upgrade attempt seen yet")
