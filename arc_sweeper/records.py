"""The rows the product keeps in Table Storage, as typed records.

The data contract is documented in docs/data-contract.md; this module is its code.
Keys are derived deterministically from resource ids (arc_sweeper.resource_ids), so a
retried activity writes the same rows again instead of adding new ones. Conversion to
and from entities is arc_sweeper.serialization's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arc_sweeper.resource_ids import extension_key, machine_key
from arc_sweeper.vocabulary import (
    Action,
    EnableResult,
    ExtensionFinding,
    ExtensionOutcome,
    Finding,
    Outcome,
    RingState,
    RunPhase,
    RunStatus,
    Trigger,
)


def machine_partition(run_id: str, subscription_id: str) -> str:
    return f"{run_id}|{subscription_id.lower()}"


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    trigger: Trigger
    dry_run: bool
    scope_count: int  # subscriptions asked for (0: every visible one); the list is in the
    status: RunStatus  # subscriptions table, so a scope of 1,000 fits
    phase: RunPhase
    started_at: str
    scope_digest: str = ""  # sha256 of the sorted requested subscription ids (first 16 hex digits)
    dry_run_reason: str = ""  # why no PATCH is sent: the request, DRY_RUN, PUBLIC_CLOUD_ONLY, or blocked_by
    blocked_by: str = ""  # the sweep whose enabling lease on an overlapping scope made this one report only
    follow_up_window: str = ""
    poll_interval: str = ""
    enabling_ended_at: str = ""
    ended_at: str = ""
    updated_at: str = ""
    subscriptions_in_scope: int = 0
    subscriptions_skipped: int = 0
    batch_count: int = 0
    machines_seen: int = 0
    cohort_size: int = 0
    finding_counts: dict[str, int] = field(default_factory=dict)
    action_counts: dict[str, int] = field(default_factory=dict)
    result_counts: dict[str, int] = field(default_factory=dict)
    outcome_counts: dict[str, int] = field(default_factory=dict)
    outcome_history: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # see outcome_history.py
    alerts: dict[str, str] = field(default_factory=dict)  # alert kind -> delivery status and detail
    error: str = ""
    catalogue: dict[str, str] = field(default_factory=dict)  # release -> YYYY-MM: what this run classifies by
    catalogue_origin: str = ""  # bundled, a file, a URL (scheme and host only), plus observed releases
    catalogue_base_newest: str = ""  # the configured catalogue's newest release (what goes stale)
    notices: tuple[str, ...] = ()  # things an operator should know that are not failures (a stale catalogue)
    extensions_seen: int = 0  # machine extensions (EXTENSION_UPGRADE_MODE report or enable)
    extension_finding_counts: dict[str, int] = field(default_factory=dict)
    extension_result_counts: dict[str, int] = field(default_factory=dict)
    extension_outcome_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SubscriptionRecord:
    run_id: str
    subscription_id: str
    display_name: str = ""
    state: str = ""
    in_scope: bool = True
    skip_reason: str = ""
    not_swept: bool = False  # meant to be swept, but Resource Graph could not be read (see skip_reason)
    note: str = ""  # something odd but not blocking, e.g. a subscription state we do not know
    batch_index: int = -1
    machines: int = 0
    to_enable: int = 0
    extensions: int = 0
    extensions_to_enable: int = 0


@dataclass(frozen=True)
class MachineRecord:
    run_id: str
    resource_id: str
    subscription_id: str
    resource_group: str
    name: str
    os_type: str = ""
    location: str = ""
    connection_status: str = ""
    agent_version_seen: str = ""
    auto_upgrade_before: str = ""  # "true", "false" or "missing"
    findings: tuple[Finding, ...] = ()
    action: Action = Action.NONE
    action_result: EnableResult = EnableResult.NOT_ATTEMPTED
    enable_chunk: int = -1  # which enabling activity PATCHes it (-1: not to enable)
    ring: int = -1  # staged-rollout ring (-1: rings are not configured)
    defer_reason: str = ""  # why its enabling waits for a later run (its ring is not open)
    arm_http_status: int = 0
    arm_error_code: str = ""
    arm_error_message: str = ""
    enabled_at: str = ""
    outcome: Outcome | None = None
    outcome_detail: str = ""
    agent_version_now: str = ""
    connection_status_now: str = ""
    last_attempt_status: str = ""
    last_attempt_message: str = ""
    last_attempt_time: str = ""
    failed_since: str = ""
    disconnected_since: str = ""
    recovered: bool = False
    updated_at: str = ""

    @property
    def partition_key(self) -> str:
        return machine_partition(self.run_id, self.subscription_id)

    @property
    def row_key(self) -> str:
        return machine_key(self.resource_id)


@dataclass(frozen=True)
class ExtensionRecord:
    """One machine extension as one run saw it, what it did about it, and what became of it."""

    run_id: str
    resource_id: str  # the extension's id
    machine_id: str
    subscription_id: str
    machine_name: str
    name: str
    publisher: str = ""
    extension_type: str = ""
    version_seen: str = ""
    auto_upgrade_before: str = ""  # "true", "false" (an explicit opt-out) or "missing" (opted in by default)
    provisioning_state: str = ""
    status_level: str = ""
    status_message: str = ""
    findings: tuple[ExtensionFinding, ...] = ()
    versions_behind: int = 0  # newer versions of the same publisher/type the estate runs
    action: Action = Action.NONE
    action_result: EnableResult = EnableResult.NOT_ATTEMPTED
    enable_chunk: int = -1
    defer_reason: str = ""  # why its enabling waits for a later run (its machine's ring is not open)
    followed: bool = False  # the follow-up re-reads it: this run enables it, or its machine's agent
    arm_http_status: int = 0
    arm_error_code: str = ""
    arm_error_message: str = ""
    enabled_at: str = ""
    outcome: ExtensionOutcome | None = None
    outcome_detail: str = ""
    version_now: str = ""
    updated_at: str = ""

    @property
    def partition_key(self) -> str:
        return machine_partition(self.run_id, self.subscription_id)

    @property
    def row_key(self) -> str:
        return extension_key(self.resource_id)


@dataclass(frozen=True)
class ObservedRelease:
    """An agent release the estate ran before the configured catalogue listed it (the `releases` table)."""

    release: str  # MAJOR.MINOR
    first_seen_at: str  # when a sweep first saw an agent report it
    first_seen_on: str  # the machine that reported it
    run_id: str
    source: str = "observed"


@dataclass(frozen=True)
class FleetRecord:
    """The latest known state of one machine across runs (written only by arc_sweeper.fleet)."""

    resource_id: str
    subscription_id: str
    name: str
    first_seen_at: str = ""
    first_noncompliant_at: str = ""  # empty while compliant
    last_seen_at: str = ""
    last_run_id: str = ""
    agent_version: str = ""
    last_findings: tuple[Finding, ...] = ()
    last_action: Action | None = None
    last_result: EnableResult | None = None
    last_outcome: Outcome | None = None
    failing_since: str = ""  # first failed upgrade attempt not yet followed by a success
    ring: int = -1  # staged-rollout ring it belongs to (-1: rings not configured)
    enabled_at: str = ""  # when the sweeper last enabled its automatic upgrade
    extensions: dict[str, str] = field(default_factory=dict)  # extension name -> version; what needs attention
    extensions_needing_attention: tuple[str, ...] = ()  # names of those extensions
    updated_at: str = ""

    @property
    def row_key(self) -> str:
        return machine_key(self.resource_id)


@dataclass(frozen=True)
class RingRecord:
    """One ring of the staged rollout (the `rings` table): its state and why."""

    ring: int
    state: RingState = RingState.WAITING
    opened_at: str = ""
    opened_by: str = ""  # "gate", or "operator <who>"
    decision: str = ""  # why it is in this state, with the numbers measured
    evaluated_at: str = ""
    previous_ring: int = -1  # the ring whose health decided this one
    previous_counts: dict[str, int] = field(default_factory=dict)
    failing: tuple[str, ...] = ()  # the previous ring's failing or stuck machines (the first ten)
