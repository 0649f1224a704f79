"""Attention items: the machines and subscriptions an operator should look at."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from arc_sweeper.extensions import extension_attention
from arc_sweeper.records import ExtensionRecord, MachineRecord, RingRecord, SubscriptionRecord
from arc_sweeper.vocabulary import Action, AttentionKind, EnableResult, Finding, Outcome, RingState, Severity


@dataclass(frozen=True)
class AttentionItem:
    kind: AttentionKind
    resource_id: str  # machine or extension resource id, /subscriptions/{id}, or /rings/{n}
    subscription_id: str
    name: str
    code: str = ""  # ARM error code, lastAttemptStatus or connection status
    message: str = ""  # ARM error message or lastAttemptMessage
    since: str = ""  # ISO 8601, when the condition was first seen


def kind_severity(kind: str) -> Severity:
    """An attention kind's severity; a kind this version does not know counts as a warning."""
    return kind.severity if isinstance(kind, AttentionKind) else Severity.WARNING


_KIND_ORDER = {kind: index for index, kind in enumerate(AttentionKind)}


def urgency(item: AttentionItem) -> tuple[int, int, int, str, str]:
    """Sort key, most urgent first: error kinds, then by kind, the oldest, then by resource id."""
    return (
        -kind_severity(item.kind).rank,
        _KIND_ORDER.get(item.kind, len(_KIND_ORDER)),
        0 if item.since else 1,
        item.since,
        item.resource_id,
    )


@dataclass
class AttentionDigest:
    """A run's attention items, every one counted by kind, only the `keep` most urgent kept (all when None).

    An alert carries a few dozen items while a 100,000-machine run can have tens of thousands:
    closing a phase adds them a subscription at a time and holds no more than twice `keep`.
    """

    keep: int | None
    counts: Counter[str] = field(default_factory=Counter)
    _kept: list[AttentionItem] = field(default_factory=list)

    def add(self, items: Iterable[AttentionItem]) -> None:
        items = list(items)
        self.counts.update(item.kind for item in items)
        self._keep_most_urgent(items)

    def merge(self, other: AttentionDigest) -> None:
        """Add another digest's items: all its counts, and the items it kept."""
        self.counts.update(other.counts)
        self._keep_most_urgent(other._kept)

    def _keep_most_urgent(self, items: list[AttentionItem]) -> None:
        self._kept.extend(items)
        if self.keep is not None and len(self._kept) > 2 * self.keep:
            self._kept = heapq.nsmallest(self.keep, self._kept, key=urgency)

    def kept(self) -> tuple[AttentionItem, ...]:
        """The items kept, most urgent first."""
        kept = sorted(self._kept, key=urgency)
        return tuple(kept if self.keep is None else kept[: self.keep])


def attention_items(
    rows: Iterable[MachineRecord],
    skipped: Iterable[SubscriptionRecord],
    rings: Iterable[RingRecord] = (),
    extensions: Iterable[ExtensionRecord] = (),
) -> list[AttentionItem]:
    """Everything an operator should look at, most urgent kinds first (AttentionKind's order)."""
    items: list[AttentionItem] = []
    for row in rows:
        items.extend(_machine_items(row))
    for ext in extensions:
        items.extend(_extension_items(ext))
    for ring in rings:
        if ring.state == RingState.HELD:
            items.append(
                AttentionItem(
                    AttentionKind.RING_HELD,
                    f"/rings/{ring.ring}",
                    "",
                    f"ring {ring.ring}",
                    str(ring.state),
                    ring.decision,
                    ring.evaluated_at,
                )
            )
    for s in skipped:
        kind = AttentionKind.SUBSCRIPTION_NOT_SWEPT if s.not_swept else AttentionKind.SUBSCRIPTION_SKIPPED
        items.append(
            AttentionItem(
                kind,
                f"/subscriptions/{s.subscription_id}",
                s.subscription_id,
                s.display_name or s.subscription_id,
                s.state,
                s.skip_reason,
            )
        )
    order = {kind: index for index, kind in enumerate(AttentionKind)}
    return sorted(items, key=lambda i: (order.get(i.kind, len(order)), i.resource_id))


def _extension_items(r: ExtensionRecord) -> Iterable[AttentionItem]:
    name = f"{r.machine_name}/{r.name}"
    if r.action_result == EnableResult.FAILED:
        yield AttentionItem(
            AttentionKind.ENABLE_FAILED,
            r.resource_id,
            r.subscription_id,
            name,
            r.arm_error_code,
            r.arm_error_message,
            r.updated_at,
        )
    for kind, message in extension_attention(r):
        yield AttentionItem(
            kind, r.resource_id, r.subscription_id, name, f"{r.extension_type} {r.version_seen}".strip(), message
        )


def _machine_items(r: MachineRecord) -> Iterable[AttentionItem]:
    def item(kind: AttentionKind, code: str = "", message: str = "", since: str = "") -> AttentionItem:
        return AttentionItem(kind, r.resource_id, r.subscription_id, r.name, code, message, since)

    if r.action_result == EnableResult.FAILED:
        yield item(AttentionKind.ENABLE_FAILED, r.arm_error_code, r.arm_error_message, r.updated_at)
    if r.outcome == Outcome.STUCK:
        yield item(AttentionKind.UPGRADE_STUCK, r.last_attempt_status, r.last_attempt_message, r.failed_since)
    elif r.outcome == Outcome.UPGRADE_FAILED:
        yield item(AttentionKind.UPGRADE_FAILED, r.last_attempt_status, r.last_attempt_message, r.failed_since)
    findings = set(r.findings)
    if Finding.EXCLUDED in findings:
        return
    if Finding.TOO_OLD_FOR_AUTO_UPGRADE in findings:
        yield item(AttentionKind.MANUAL_UPGRADE_NEEDED, r.agent_version_seen)
    elif Finding.OUT_OF_SUPPORT in findings and r.action != Action.ENABLE_AUTO_UPGRADE:
        yield item(AttentionKind.OUT_OF_SUPPORT, r.agent_version_seen)
    if Finding.EXPIRED in findings:
        yield item(AttentionKind.EXPIRED, r.connection_status)
    elif Finding.NOT_CONNECTED in findings:
        yield item(AttentionKind.NOT_CONNECTED, r.connection_status)
    if Finding.UNKNOWN_VERSION in findings:
        yield item(AttentionKind.UNKNOWN_VERSION, r.agent_version_seen or "missing")
