"""The run report: what one sweep found, did and saw afterwards.

Built from Table Storage when a phase ends, then turned into an alert, a summary or a
page. It never crosses an activity boundary, so it may be large; alerts cap what they send.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from arc_sweeper import serialization
from arc_sweeper.records import RunRecord, SubscriptionRecord
from arc_sweeper.reporting.attention import AttentionDigest, AttentionItem
from arc_sweeper.vocabulary import RunStatus, Trigger


@dataclass(frozen=True)
class RunReport:
    run_id: str
    trigger: Trigger
    dry_run: bool
    scope: tuple[str, ...]  # subscriptions asked for; empty means every visible subscription
    status: RunStatus
    started_at: str
    ended_at: str = ""
    subscriptions_in_scope: int = 0
    machines_seen: int = 0
    finding_counts: dict[str, int] = field(default_factory=dict)
    action_counts: dict[str, int] = field(default_factory=dict)
    result_counts: dict[str, int] = field(default_factory=dict)
    outcome_counts: dict[str, int] = field(default_factory=dict)
    attention: tuple[AttentionItem, ...] = ()  # every item, or only the most urgent (see attention_counts)
    attention_counts: dict[str, int] = field(default_factory=dict)  # every item by kind; empty: `attention` is all
    error: str = ""
    notices: tuple[str, ...] = ()
    blocked_by: str = ""
    extensions_seen: int = 0
    extension_finding_counts: dict[str, int] = field(default_factory=dict)
    extension_result_counts: dict[str, int] = field(default_factory=dict)
    extension_outcome_counts: dict[str, int] = field(default_factory=dict)

    @property
    def attention_by_kind(self) -> dict[str, int]:
        return self.attention_counts or dict(Counter(item.kind for item in self.attention))

    @property
    def attention_total(self) -> int:
        return sum(self.attention_by_kind.values())

    def to_json(self) -> dict[str, Any]:
        converted: dict[str, Any] = serialization.to_json(self)
        return converted


def build_report(run: RunRecord, subscriptions: Iterable[SubscriptionRecord], attention: AttentionDigest) -> RunReport:
    """The report of a run; with a requested scope, every subscription row is one that was asked for."""
    subscriptions = list(subscriptions)
    requested = tuple(sorted(s.subscription_id for s in subscriptions)) if run.scope_count else ()
    return RunReport(
        run_id=run.run_id,
        trigger=run.trigger,
        dry_run=run.dry_run,
        scope=requested,
        status=run.status,
        started_at=run.started_at,
        ended_at=run.ended_at,
        subscriptions_in_scope=run.subscriptions_in_scope,
        machines_seen=run.machines_seen,
        finding_counts=run.finding_counts,
        action_counts=run.action_counts,
        result_counts=run.result_counts,
        outcome_counts=run.outcome_counts,
        attention=attention.kept(),
        attention_counts=dict(attention.counts),
        error=run.error,
        notices=run.notices,
        blocked_by=run.blocked_by,
        extensions_seen=run.extensions_seen,
        extension_finding_counts=run.extension_finding_counts,
        extension_result_counts=run.extension_result_counts,
        extension_outcome_counts=run.extension_outcome_counts,
    )
