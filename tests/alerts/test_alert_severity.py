"""The severity rules of docs/alerts.md, one row each."""

from __future__ import annotations

import pytest
from alert_factories import attention, report

from arc_sweeper.reporting.alerts import build_alert, severity_for
from arc_sweeper.vocabulary import AlertKind, AttentionKind, Severity

COMPLETED, FOLLOW_UP, FAILED = AlertKind.SWEEP_COMPLETED, AlertKind.FOLLOW_UP_COMPLETED, AlertKind.SWEEP_FAILED

RULES = [
    # (alert kind, report changes, expected severity, why)
    (FAILED, {}, "error", "the sweep failed"),
    (COMPLETED, {"status": "failed"}, "error", "the run is marked failed"),
    (COMPLETED, {"result_counts": {"enabled": 5, "failed": 1}}, "error", "a PATCH was refused"),
    (COMPLETED, {"error": "enabling failed in subscription 0000: boom"}, "error", "a part of the run failed"),
    (FOLLOW_UP, {"outcome_counts": {"stuck": 1}}, "error", "an upgrade is stuck"),
    (COMPLETED, {"attention": (attention(AttentionKind.ENABLE_FAILED),)}, "error", "enable failed item"),
    (FOLLOW_UP, {"attention": (attention(AttentionKind.UPGRADE_STUCK),)}, "error", "stuck item"),
    (FOLLOW_UP, {"outcome_counts": {"upgraded": 3, "upgrade_failed": 1}}, "warning", "an upgrade failed"),
    (FOLLOW_UP, {"outcome_counts": {"disconnected": 1}}, "warning", "a machine disconnected while followed"),
    (FOLLOW_UP, {"attention": (attention(AttentionKind.UPGRADE_FAILED),)}, "warning", "upgrade failed item"),
    (COMPLETED, {"attention": (attention(AttentionKind.MANUAL_UPGRADE_NEEDED),)}, "warning", "manual upgrade"),
    (COMPLETED, {"attention": (attention(AttentionKind.OUT_OF_SUPPORT),)}, "warning", "out of support"),
    (COMPLETED, {"attention": (attention(AttentionKind.NOT_CONNECTED),)}, "warning", "not connected"),
    (COMPLETED, {"attention": (attention(AttentionKind.EXPIRED),)}, "warning", "expired"),
    (COMPLETED, {"attention": (attention(AttentionKind.SUBSCRIPTION_SKIPPED),)}, "warning", "skipped subscription"),
    (COMPLETED, {"dry_run": True, "blocked_by": "http-1"}, "warning", "reported only: another sweep held the scope"),
    (COMPLETED, {"attention": (attention(AttentionKind.EXTENSION_FAILED),)}, "warning", "extension failed"),
    (COMPLETED, {"attention": (attention(AttentionKind.UNKNOWN_VERSION),)}, "info", "unknown version alone"),
    (
        COMPLETED,
        {"attention": (attention(AttentionKind.EXTENSION_OPTED_OUT), attention(AttentionKind.EXTENSION_FAR_BEHIND))},
        "info",
        "extensions opted out, behind",
    ),
    (COMPLETED, {}, "info", "all enabled, nothing to look at"),
    (COMPLETED, {"dry_run": True, "result_counts": {"dry_run": 20}}, "info", "a clean dry run"),
    (FOLLOW_UP, {"outcome_counts": {"upgraded": 18, "pending": 1, "gone": 1}}, "info", "pending and gone"),
]


@pytest.mark.parametrize(("kind", "changes", "expected", "why"), RULES, ids=[rule[3] for rule in RULES])
def test_severity_rules(kind, changes, expected, why):
    run = report(**changes)
    assert severity_for(kind, run) == expected
    assert build_alert(kind, run, generated_at="t", app_url="")["severity"] == expected


def test_the_worst_item_decides():
    items = (
        attention(AttentionKind.UNKNOWN_VERSION, "a"),
        attention(AttentionKind.EXPIRED, "b"),
        attention(AttentionKind.ENABLE_FAILED, "c"),
    )
    assert severity_for(COMPLETED, report(attention=items)) == "error"
    assert severity_for(COMPLETED, report(attention=items[:2])) == "warning"


def test_items_beyond_the_cap_still_count():
    items = tuple(attention(AttentionKind.UNKNOWN_VERSION, f"a{i}") for i in range(60)) + (
        attention(AttentionKind.EXPIRED, "z"),
    )
    payload = build_alert(COMPLETED, report(attention=items), generated_at="t", app_url="", max_items=0)
    assert payload["attention"]["items"] == []
    assert payload["severity"] == "warning"


def test_every_attention_kind_has_a_severity():
    assert {kind.severity for kind in AttentionKind} <= set(Severity)
