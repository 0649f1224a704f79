"""What became of a machine after automatic upgrade was enabled (pure logic)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from arc_sweeper.catalogue import ReleaseCatalogue
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.records import MachineRecord, Outcome
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.versions import parse_agent_version

STUCK_ADVICE = (
    "Upgrade keeps failing. On the machine, read himds.log and azcmagent.log "
    "(%ProgramData%\\AzureConnectedMachineAgent\\Log or /var/opt/azcmagent/log), fix the cause "
    "(proxy, disk, package source), clear the agent's failed automatic-upgrade state and restart "
    "the himds service so the next daily check retries, or upgrade the agent manually."
)


def _after(timestamp: str, since: str) -> bool:
    """True when `timestamp` is at or after `since`; unparsable times count as recent."""
    when, start = parse_timestamp(timestamp), parse_timestamp(since)
    return when is None or start is None or when >= start


def follow_up_outcome(
    row: MachineRecord,
    machine: MachineSnapshot | None,
    *,
    catalogue: ReleaseCatalogue,
    latest: tuple[int, int],
    now: datetime,
    stuck_after: timedelta,
) -> MachineRecord:
    """The row updated with this check's outcome; the first matching rule wins."""
    stamp = now.isoformat()
    if machine is None:
        return replace(row, outcome=Outcome.GONE, outcome_detail="machine no longer exists", updated_at=stamp)

    row = replace(
        row,
        agent_version_now=machine.agent_version,
        connection_status_now=machine.status,
        last_attempt_status=machine.last_attempt_status,
        last_attempt_message=machine.last_attempt_message,
        last_attempt_time=machine.last_attempt_timestamp,
        updated_at=stamp,
    )
    version = parse_agent_version(machine.agent_version)
    recent_attempt = bool(machine.last_attempt_status) and _after(machine.last_attempt_timestamp, row.enabled_at)
    attempt = machine.last_attempt_status.strip().lower() if recent_attempt else ""
    current = version is not None and catalogue.releases_behind(version, latest) <= 1

    if current or attempt == "success":
        detail = f"agent {row.agent_version_seen or 'unknown'} -> {machine.agent_version or 'unknown'}"
        return replace(row, outcome=Outcome.UPGRADED, outcome_detail=detail,
                       recovered=bool(row.failed_since))
    if machine.status.strip().lower() != "connected":
        since = row.disconnected_since or machine.last_status_change or stamp
        return replace(row, outcome=Outcome.DISCONNECTED, disconnected_since=since,
                       outcome_detail=f"status {machine.status or 'missing'}")
    if attempt == "failed":
        failed_since = row.failed_since or machine.last_attempt_timestamp or stamp
        started = parse_timestamp(failed_since) or now
        if now - started >= stuck_after:
            return replace(row, outcome=Outcome.STUCK, failed_since=failed_since, outcome_detail=STUCK_ADVICE)
        return replace(row, outcome=Outcome.UPGRADE_FAILED, failed_since=failed_since,
                       outcome_detail=machine.last_attempt_message or "upgrade attempt failed")
    if attempt:
        return replace(row, outcome=Outcome.PENDING,
                       outcome_detail=f"unrecognised lastAttemptStatus {machine.last_attempt_status!r}")
    return replace(row, outcome=Outcome.PENDING, outcome_detail="no upgrade attempt seen yet")
