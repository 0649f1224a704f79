"""The run report: what one sweep found, did and saw afterwards.

Built from Table Storage when a phase ends, then turned into an alert and a summary.
It never crosses an activity boundary, so it may be large; alerts cap what they send.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class AttentionKind:
    """Why a machine or subscription needs an operator's attention."""

    ENABLE_FAILED = "enable_failed"              # the PATCH was refused (ARM code + message)
    UPGRADE_FAILED = "upgrade_failed"            # lastAttemptStatus Failed, still retrying
    UPGRADE_STUCK = "upgrade_stuck"              # failed for longer than STUCK_AFTER
    MANUAL_UPGRADE_NEEDED = "manual_upgrade_needed"  # agent below the automatic-upgrade minimum
    OUT_OF_SUPPORT = "out_of_support"
    NOT_CONNECTED = "not_connected"
    EXPIRED = "expired"
    UNKNOWN_VERSION = "unknown_version"
    SUBSCRIPTION_SKIPPED = "subscription_skipped"

    ALL = (
        ENABLE_FAILED, UPGRADE_STUCK, UPGRADE_FAILED, MANUAL_UPGRADE_NEEDED, OUT_OF_SUPPORT,
        EXPIRED, NOT_CONNECTED, UNKNOWN_VERSION, SUBSCRIPTION_SKIPPED,
    )


@dataclass(frozen=True)
class AttentionItem:
    kind: str
    resource_id: str        # machine resource id, or /subscriptions/{id} for a skipped subscription
    subscription_id: str
    name: str
    code: str = ""          # ARM error code, lastAttemptStatus or connection status
    message: str = ""       # ARM error message or lastAttemptMessage
    since: str = ""         # ISO 8601, when the condition was first seen

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunReport:
    run_id: str
    trigger: str            # timer | http | cli
    dry_run: bool
    scope: tuple[str, ...]  # subscriptions asked for; empty means every visible subscription
    status: str             # see tables.RunStatus
    started_at: str
    ended_at: str = ""
    subscriptions_in_scope: int = 0
    machines_seen: int = 0
    finding_counts: dict[str, int] = field(default_factory=dict)
    action_counts: dict[str, int] = field(default_factory=dict)
    result_counts: dict[str, int] = field(default_factory=dict)
    outcome_counts: dict[str, int] = field(default_factory=dict)
    attention: tuple[AttentionItem, ...] = ()
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["scope"] = list(self.scope)
        data["attention"] = [item.to_json() for item in self.attention]
        return data
