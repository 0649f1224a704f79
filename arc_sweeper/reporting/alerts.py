"""Turn a run report into the alert the Logic App receives (schemas/alert-payload.v1.schema.json).

Pure: the same report and arguments always give the same payload. A report may hold an
attention item for every machine in the estate, so the payload keeps the most severe
items only, capped by count and by encoded size, with the totals so nothing is hidden.
Delivery is arc_sweeper.logic_app's job.

Its length is the payload's: one builder per section of the schema, kept together so the
cap and the totals are decided in one place.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from arc_sweeper.reporting.attention import AttentionItem, kind_severity, urgency
from arc_sweeper.reporting.report import RunReport
from arc_sweeper.text import clip, redact_url
from arc_sweeper.vocabulary import (
    Action,
    AlertKind,
    AttentionKind,
    EnableResult,
    ExtensionFinding,
    ExtensionOutcome,
    Finding,
    Outcome,
    RunStatus,
    Severity,
    Trigger,
)

SCHEMA_VERSION = "1.2"
DEFAULT_MAX_ITEMS = 50
MAX_ALERT_BYTES = 48 * 1024
"""Encoded size the payload never exceeds, whatever the estate; well under what Logic Apps and chat take."""
MAX_REQUESTED_SUBSCRIPTIONS = 50
PORTAL_RESOURCE_URL = "https://portal.azure.com/#resource"

# Longest text per field, in characters; the schema's maxLength says the same.
_ITEM_FIELD_LIMITS = {
    "kind": 64,
    "resourceId": 1024,
    "subscriptionId": 64,
    "name": 256,
    "code": 128,
    "message": 500,
    "since": 64,
    "portalUrl": 2048,
}
_SUMMARY_LIMIT = 300
_NOTICE_LIMIT = 500
_MAX_NOTICES = 5
_ERROR_LIMIT = 2000
_TIMESTAMP_LIMIT = 64
_RUN_ID_LIMIT = 128


KNOWN_COUNT_NAMES: dict[str, tuple[str, ...]] = {
    "findings": tuple(Finding),
    "actions": tuple(Action),
    "results": tuple(EnableResult),
    "outcomes": tuple(Outcome),
}
"""Names always present in `counts` (zero when absent), so Logic App expressions can rely on them."""
EXTENSION_COUNT_NAMES: dict[str, tuple[str, ...]] = {
    "findings": tuple(ExtensionFinding),
    "results": tuple(EnableResult),
    "outcomes": tuple(ExtensionOutcome),
}
"""The same for `counts.extensions` (all zero when EXTENSION_UPGRADE_MODE is off)."""


def severity_for(kind: AlertKind, report: RunReport) -> Severity:
    """The alert's severity; the rules are documented in docs/alerts.md ("Severity").

    error: the run failed, a part of it failed (its `error` is set), a PATCH was refused, or an
    upgrade is stuck.
    warning: an upgrade failed, a machine disconnected, needs a manual upgrade, is out of
    support, not connected or expired, a subscription was skipped, or the run reported only
    because another sweep was still enabling an overlapping scope.
    info: anything else (including agents whose version could not be read).
    """
    attention_kinds = set(report.attention_by_kind)
    if (
        kind == AlertKind.SWEEP_FAILED
        or report.status == RunStatus.FAILED
        or report.error
        or report.result_counts.get(EnableResult.FAILED, 0) > 0
        or report.outcome_counts.get(Outcome.STUCK, 0) > 0
        or any(kind_severity(k) == Severity.ERROR for k in attention_kinds)
    ):
        return Severity.ERROR
    if (
        report.outcome_counts.get(Outcome.UPGRADE_FAILED, 0) > 0
        or report.outcome_counts.get(Outcome.DISCONNECTED, 0) > 0
        or report.blocked_by
        or any(kind_severity(k) == Severity.WARNING for k in attention_kinds)
    ):
        return Severity.WARNING
    return Severity.INFO


def build_alert(
    kind: AlertKind,
    report: RunReport,
    *,
    generated_at: str,
    app_url: str,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> dict[str, Any]:
    """The alert payload for one phase of a run, valid against the v1 schema.

    `app_url` is the Function App's public URL (blank when unknown): links are built from its
    scheme and host only, so no key can reach an alert.
    At most `max_items` attention items are included, fewer if they would push the encoded
    payload past MAX_ALERT_BYTES.
    """
    if kind not in set(AlertKind):
        raise ValueError(f"unknown alert kind {kind!r}; expected one of {', '.join(AlertKind)}")
    if max_items < 0:
        raise ValueError("max_items cannot be negative")
    severity = severity_for(kind, report)
    candidates = [_item_json(item) for item in heapq.nsmallest(max_items, report.attention, key=urgency)]
    payload: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "kind": kind,
        "severity": severity,
        "summary": clip(_summary(kind, report), _SUMMARY_LIMIT),
        "runId": clip(report.run_id, _RUN_ID_LIMIT),
        "trigger": report.trigger if report.trigger in set(Trigger) else "unknown",
        "dryRun": report.dry_run,
        "status": report.status,
        "generatedAt": clip(generated_at, _TIMESTAMP_LIMIT),
        "startedAt": clip(report.started_at, _TIMESTAMP_LIMIT),
        "endedAt": clip(report.ended_at, _TIMESTAMP_LIMIT),
        "scope": {
            "allSubscriptions": not report.scope,
            "requestedSubscriptionIds": [clip(s, 64) for s in report.scope[:MAX_REQUESTED_SUBSCRIPTIONS]],
            "requestedTotal": len(report.scope),
            "subscriptionsInScope": report.subscriptions_in_scope,
            "machinesSeen": report.machines_seen,
        },
        "counts": {
            "findings": _counts(report.finding_counts, KNOWN_COUNT_NAMES["findings"]),
            "actions": _counts(report.action_counts, KNOWN_COUNT_NAMES["actions"]),
            "results": _counts(report.result_counts, KNOWN_COUNT_NAMES["results"]),
            "outcomes": _counts(report.outcome_counts, KNOWN_COUNT_NAMES["outcomes"]),
            "extensions": {
                "seen": report.extensions_seen,
                "findings": _counts(report.extension_finding_counts, EXTENSION_COUNT_NAMES["findings"]),
                "results": _counts(report.extension_result_counts, EXTENSION_COUNT_NAMES["results"]),
                "outcomes": _counts(report.extension_outcome_counts, EXTENSION_COUNT_NAMES["outcomes"]),
            },
        },
        "attention": {
            "total": report.attention_total,
            # Placeholders as long as their final values can be, so the size budget holds.
            "returned": len(candidates),
            "truncated": False,
            "byKind": _counts(report.attention_by_kind, AttentionKind),
            "items": [],
        },
        "links": _links(app_url, report.run_id),
        "error": clip(_error_text(kind, report), _ERROR_LIMIT),
        "notices": [clip(notice, _NOTICE_LIMIT) for notice in report.notices[:_MAX_NOTICES]],
    }
    items = _fit(candidates, MAX_ALERT_BYTES - len(encode_alert(payload)))
    payload["attention"].update(items=items, returned=len(items), truncated=len(items) < report.attention_total)
    return payload


def _links(app_url: str, run_id: str) -> dict[str, str]:
    """The run's status endpoint and HTML report: scheme and host of `app_url` only, never a key."""
    run = f"{redact_url(app_url)}/api/sweeps/{quote(run_id)}" if app_url else ""
    return {"runStatusUrl": clip(run, 2048), "reportUrl": clip(f"{run}/report" if run else "", 2048)}


def encode_alert(payload: dict[str, Any]) -> bytes:
    """The bytes that are sent: compact UTF-8 JSON, the same encoding the size cap measures."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _item_json(item: AttentionItem) -> dict[str, str]:
    values = {
        "kind": item.kind,
        "resourceId": item.resource_id,
        "subscriptionId": item.subscription_id,
        "name": item.name,
        "code": item.code,
        "message": item.message,
        "since": item.since,
        "portalUrl": _portal_url(item.resource_id),
    }
    return {key: clip(value, _ITEM_FIELD_LIMITS[key]) for key, value in values.items()}


def _portal_url(resource_id: str) -> str:
    return f"{PORTAL_RESOURCE_URL}{quote(resource_id, safe='/')}" if resource_id.startswith("/") else ""


def _fit(items: list[dict[str, str]], room: int) -> list[dict[str, str]]:
    """The leading items whose encoding fits in `room` bytes (one comma between items)."""
    kept: list[dict[str, str]] = []
    for item in items:
        room -= len(encode_alert(item)) + (1 if kept else 0)
        if room < 0:
            break
        kept.append(item)
    return kept


def _counts(counts: dict[str, int], known: Iterable[str]) -> dict[str, int]:
    """Every known name (zero when absent) plus any other name the report carries."""
    merged = {name: 0 for name in known}
    for name, count in counts.items():
        merged[clip(str(name), 64)] = max(0, int(count))
    return merged


def _summary(kind: str, report: RunReport) -> str:
    dry = " (dry run)" if report.dry_run else ""
    attention = report.attention_total
    if kind == AlertKind.SWEEP_FAILED:
        return f"Sweep {report.run_id} failed{dry}: {_error_text(kind, report)}"
    if kind == AlertKind.FOLLOW_UP_COMPLETED:
        outcomes = report.outcome_counts
        return (
            f"Follow-up of run {report.run_id} done{dry}: {outcomes.get(Outcome.UPGRADED, 0)} upgraded,"
            f" {outcomes.get(Outcome.UPGRADE_FAILED, 0)} failing, {outcomes.get(Outcome.STUCK, 0)} stuck,"
            f" {outcomes.get(Outcome.PENDING, 0)} still pending, {attention} needing attention"
        )
    results = report.result_counts
    done = EnableResult.DRY_RUN if report.dry_run else EnableResult.ENABLED
    verb = "would enable" if report.dry_run else "enabled"
    extensions = (
        f", {report.extensions_seen} extensions ({verb} {report.extension_result_counts.get(done, 0)})"
        if report.extensions_seen
        else ""
    )
    return (
        f"Sweep {report.run_id}{dry}: {report.machines_seen} machines seen, {verb} {results.get(done, 0)},"
        f" {results.get(EnableResult.FAILED, 0)} failed{extensions}, {attention} needing attention"
    )


def _error_text(kind: str, report: RunReport) -> str:
    if kind == AlertKind.SWEEP_FAILED and not report.error:
        return "the run failed without an error message; see the run row and Application Insights"
    return report.error
