"""The HTML report, rendered from recorded tables and read back: its numbers are the tables' numbers."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

import pytest

from arc_sweeper.records import RingRecord
from arc_sweeper.reporting import page as report_page
from arc_sweeper.reporting.attention import attention_items
from arc_sweeper.reporting.page import latest_completed_run, load_page, render_page
from arc_sweeper.vocabulary import Action, EnableResult, ExtensionFinding, Finding, Outcome, RingState
from tests.fakes import InMemoryTables
from tests.report_html import ReportReader, number
from tests.report_tables import (
    DAY_1,
    DAY_2,
    EXTENSIONS,
    HISTORY,
    INSTALL_FAILED,
    ROLLED_BACK,
    ROWS,
    SUB_A,
    SUB_B,
    SUBSCRIPTIONS,
    recorded_tables,
)

F = Finding


@pytest.fixture
def tables() -> InMemoryTables:
    return recorded_tables()


def rendered(tables: InMemoryTables, run_id: str = DAY_1) -> tuple[str, ReportReader]:
    page = load_page(tables, run_id, generated_at="2026-11-23T08:00:00Z")
    assert page is not None
    html = render_page(page)
    return html, ReportReader(html)


def test_the_headline_is_the_run_row_and_its_machines(tables):
    _, report = rendered(tables)
    recorded = tables.get_run(DAY_1)
    results = Counter(r.action_result for r in ROWS if r.action == Action.ENABLE_AUTO_UPGRADE)
    compliant = sum(1 for r in ROWS if r.findings == (F.COMPLIANT,))
    assert number(report.headline["Machines seen"]) == recorded.machines_seen == len(ROWS)
    assert report.headline["Compliant"] == f"{compliant / len(ROWS):.1%}"
    assert number(report.headline["Automatic upgrade enabled"]) == results[EnableResult.ENABLED] == 3
    assert number(report.headline["Enable failed"]) == results[EnableResult.FAILED] == 1
    assert number(report.headline["Upgrades stuck"]) == sum(1 for r in ROWS if r.outcome == Outcome.STUCK)
    assert number(report.headline["Subscriptions skipped"]) == 1
    assert number(report.headline["Needing attention"]) == len(attention_items(ROWS, SUBSCRIPTIONS[1:]))


def test_versions_by_release_and_support_add_up_to_the_machine_rows(tables):
    _, report = rendered(tables)
    table = report.tables["versions-table"]
    shown = {(release, support): number(n) for release, support, n in table.body}
    assert sum(shown.values()) == len(ROWS)
    assert shown == {
        ("1.50", "Too old for automatic upgrade"): 2,
        ("1.56", "Out of support"): 1,
        ("1.60", "Supported"): 1,
        ("1.61", "Supported"): 1,
        ("1.62", "Supported"): 1,
        ("1.63", "Supported"): 1,
        ("1.67", "Supported"): 1,
        ("unreadable", "Version unreadable"): 1,
    }
    assert table.column("Release") == sorted(table.column("Release"), key=lambda r: (r == "unreadable", r))


def test_findings_actions_and_results_are_the_counted_rows(tables):
    _, report = rendered(tables)
    findings = {row[0]: number(row[1]) for row in report.tables["findings-table"].body}
    assert findings == Counter(str(f) for r in ROWS for f in r.findings)
    assert report.tables["findings-table"].column("Meaning")[0] == Finding.COMPLIANT.explanation
    small = {
        t.caption: {row[0]: number(row[1]) for row in t.body}
        for t in report.all_tables
        if t.caption in ("Actions", "Enable results (machines to enable)")
    }
    assert small["Actions"] == Counter(str(r.action) for r in ROWS)
    assert small["Enable results (machines to enable)"] == {"enabled": 3, "failed": 1}


def test_follow_up_days_come_from_the_outcome_history_and_end_where_the_rows_are(tables):
    _, report = rendered(tables)
    table = report.tables["follow-up-table"]
    assert table.rows[0] == ["Day", "upgraded", "pending", "upgrade_failed", "stuck"]  # the vocabulary's order
    assert table.column("Day") == list(HISTORY)
    last = dict(zip(table.rows[0][1:], map(number, table.body[-1][1:]), strict=True))
    assert {k: v for k, v in last.items() if v} == Counter(str(r.outcome) for r in ROWS if r.outcome)
    # The cohort also counts the extensions the run enabled; the chart is of its machines.
    assert tables.get_run(DAY_1).cohort_size == 5 and "The 3 machines this run enabled" in table.caption


def test_the_trend_covers_comparable_runs_with_follow_ups_under_way_and_new_machines(tables):
    _, report = rendered(tables)
    table = report.tables["trend-table"]
    assert table.column("Run") == [DAY_1, DAY_2]  # not the failed run, not the run over another scope
    assert [number(n) for n in table.column("Machines seen")] == [len(ROWS), 10]
    assert table.column("Compliant share") == [f"{1 / len(ROWS):.1%}", "40.0%"]
    assert [number(n) for n in table.column("Enabled")] == [3, 1]
    assert [number(n) for n in table.column("Failing")] == [0, 1]  # day 2: day 1's follow-up, at the end of day 2
    assert [number(n) for n in table.column("Stuck")] == [0, 0]
    assert [number(n) for n in table.column("New")] == [len(ROWS), 1]


def test_attention_is_grouped_by_kind_oldest_first_with_remedies_and_capped(tables, monkeypatch):
    html, report = rendered(tables)
    captions = [t.caption for t in report.in_section("attention") if t.caption.endswith("oldest first")]
    assert captions == [
        "Enable failed, oldest first",
        "Upgrade stuck, oldest first",
        "Manual upgrade needed, oldest first",
        "Out of support, oldest first",
        "Unknown version, oldest first",
    ]
    stuck = next(t for t in report.all_tables if t.caption.startswith("Upgrade stuck"))
    assert stuck.rows[1] == [
        "stuck",
        SUB_A,
        "Failed",
        "AZCM0165: Failed to download the agent package",
        "2026-11-20T01:10:00Z",
    ]
    assert "read himds.log and azcmagent.log" in html
    refused = next(t for t in report.all_tables if t.caption.startswith("Enable failed"))
    assert refused.rows[0][2] == "ARM error" and refused.rows[1][2] == "ScopeLocked"

    monkeypatch.setattr(report_page, "MAX_ROWS_PER_KIND", 1)
    html, report = rendered(tables)
    manual = next(t for t in report.all_tables if t.caption.startswith("Manual upgrade needed"))
    assert len(manual.body) == 1 and "(the first 1)" in manual.caption
    assert "… and 1 more" in html


def test_a_held_ring_is_listed_with_why_and_no_portal_link(tables):
    tables.put_rings(
        [
            RingRecord(
                2, RingState.HELD, decision="ring 1: 3 of 10 failing (max 10%)", evaluated_at="2026-11-22T03:31:00Z"
            )
        ]
    )
    html, report = rendered(tables)
    [held] = [t for t in report.all_tables if t.caption.startswith("Ring held")]
    assert held.rows[0][0] == "Ring" and held.body == [
        ["ring 2", "", "held", "ring 1: 3 of 10 failing (max 10%)", "2026-11-22T03:31:00Z"]
    ]
    assert 'href="https://portal.azure.com/#resource/rings' not in html


def test_skipped_subscriptions_are_listed_with_their_reason(tables):
    _, report = rendered(tables)
    [skipped] = [t for t in report.all_tables if t.caption.startswith("Subscriptions this run did not sweep")]
    assert skipped.body == [["Data", SUB_B, "Disabled", "subscription state is Disabled"]]


def test_the_page_loads_nothing_runs_nothing_and_describes_every_chart(tables):
    html, report = rendered(tables)
    tags = report.tags
    assert not [t for t, _ in tags if t in ("script", "img", "link", "iframe", "object")]
    assert not [a for _, a in tags if "src" in a or any(k.startswith("on") for k in a)]
    assert {a.get("href", "") for t, a in tags if t == "a"} <= {
        f"https://portal.azure.com/#resource{r.resource_id}" for r in [*ROWS, *EXTENSIONS]
    }
    assert not re.search(r"url\(|@import", html)
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": report_page.CONTENT_SECURITY_POLICY}) in tags
    charts = [a for t, a in tags if t == "svg"]
    assert len(charts) == 5 and all(a["role"] == "img" and a["aria-describedby"] in report.tables for a in charts)
    assert [t for t, _ in tags].count("h1") == 1 and "h2" in [t for t, _ in tags]


def test_the_extension_section_holds_the_run_row_s_extension_counts(tables):
    html, report = rendered(tables)
    recorded = tables.get_run(DAY_1)
    findings = report.tables["extension-findings-table"]
    assert (
        {row[0]: number(row[1]) for row in findings.body}
        == recorded.extension_finding_counts
        == Counter(str(f) for e in EXTENSIONS for f in e.findings)
    )
    assert findings.column("Finding") == [f for f in ExtensionFinding if f in recorded.extension_finding_counts]
    assert findings.column("Meaning")[0] == ExtensionFinding.OK.explanation
    results = report.tables["extension-results-table"]
    assert (
        {row[0]: number(row[1]) for row in results.body}
        == recorded.extension_result_counts
        == {"enabled": 2, "failed": 1}
    )
    outcomes = report.tables["extension-outcomes-table"]
    assert (
        {row[0]: number(row[1]) for row in outcomes.body}
        == recorded.extension_outcome_counts
        == {"ext_upgraded": 1, "ext_failing": 1}
    )
    assert f"{len(EXTENSIONS)} extensions on the machines seen" in html
    assert html.index('id="attention"') < html.index('id="extensions"') < html.index('id="skipped"')


def test_extensions_needing_attention_are_listed_apart_from_the_machines_with_what_to_do(tables, monkeypatch):
    html, report = rendered(tables)
    groups = [t for t in report.in_section("extensions") if t.caption.endswith("oldest first")]
    assert [t.caption for t in groups] == [
        "Enable failed, oldest first",
        "Extension failed, oldest first",
        "Extension opted out, oldest first",
        "Extension far behind, oldest first",
    ]
    refused, failed, opted_out, far_behind = groups
    assert refused.rows == [
        ["Extension", "Subscription", "ARM error", "Message", "Since"],
        ["waits/Worker", SUB_A, "ScopeLocked", "The scope is locked", "2026-11-20T03:31:00Z"],
    ]
    assert failed.rows[0] == ["Extension", "Subscription", "Type and version", "Message", "Since"]
    assert failed.body == [
        ["ok/Dependency", SUB_A, "DependencyAgentWindows 9.10.20.31260", INSTALL_FAILED, ""],
        ["stuck/UpdateManager", SUB_A, "WindowsOsUpdateExtension 1.0.21.0", ROLLED_BACK, ""],
    ]
    assert opted_out.body == [  # the refused PATCH left it opted out too
        ["aged/IaaSAntimalware", SUB_A, "IaaSAntimalware 1.7.0.0", "enableAutomaticUpgrade is false", ""],
        ["waits/Worker", SUB_A, "HybridWorkerForWindows 1.1.13", "enableAutomaticUpgrade is false", ""],
    ]
    assert far_behind.body == [
        [
            "old/AMA",
            SUB_A,
            "AzureMonitorWindowsAgent 1.28.0.0",
            "1.28.0.0: 3 versions behind the newest in the estate",
            "",
        ]
    ]
    # The alert's extension items, each once; the machines' list keeps to machines.
    assert sum(len(t.body) for t in groups) == len(attention_items([], [], extensions=EXTENSIONS)) == 6
    assert "Extensions needing attention: 6" in html and "Turn enableAutomaticUpgrade on" in html
    assert not [row for t in report.in_section("attention") for row in t.body if "/" in row[0]]
    assert number(report.headline["Needing attention"]) == len(attention_items(ROWS, SUBSCRIPTIONS[1:]))

    monkeypatch.setattr(report_page, "MAX_ROWS_PER_KIND", 1)
    html, report = rendered(tables)
    [failed] = [t for t in report.in_section("extensions") if t.caption.startswith("Extension failed")]
    assert len(failed.body) == 1 and "(the first 1)" in failed.caption
    assert "or the extensions table list them all" in html


def test_a_run_that_read_no_extension_says_so(tables):
    tables.put_run(
        replace(
            tables.get_run(DAY_1),
            extensions_seen=0,
            extension_finding_counts={},
            extension_result_counts={},
            extension_outcome_counts={},
        )
    )
    html, report = rendered(tables)
    assert "This run read no extension" in html and not report.in_section("extensions")


def test_names_the_vocabulary_does_not_know_yet_still_appear(tables):
    newer = tables.get_run(DAY_1)
    tables.put_run(
        replace(
            newer,
            finding_counts={**newer.finding_counts, "extension_outdated": 2},
            outcome_history={"2026-11-21": {"0": {"up_to_date": 2, "upgraded": 1}}},
        )
    )
    _, report = rendered(tables)
    assert ["extension_outdated", "2", ""] in report.tables["findings-table"].body
    assert report.tables["follow-up-table"].rows[0] == ["Day", "upgraded", "up_to_date"]


def test_the_run_s_notices_head_the_page(tables):
    assert 'id="notices" aria-labelledby="notices-heading" hidden' in rendered(tables)[0]
    tables.put_run(replace(tables.get_run(DAY_1), notices=("The release catalogue is 4 months old",)))
    html, _ = rendered(tables)
    assert "<strong>Notice:</strong> The release catalogue is 4 months old" in html
    assert html.index('id="notices"') < html.index('id="headline"') and 'notices-heading" hidden' not in html


def test_a_dry_run_says_what_it_would_enable_and_that_nothing_is_followed(tables):
    tables.put_run(
        replace(
            tables.get_run(DAY_1),
            dry_run=True,
            dry_run_reason="DRY_RUN setting",
            result_counts={"dry_run": 4},
            outcome_history={},
        )
    )
    html, report = rendered(tables)
    assert number(report.headline["Would enable"]) == 4
    assert "DRY_RUN setting" in html and "A dry run enables nothing" in html


def test_unknown_runs_and_the_latest_completed_run(tables):
    assert load_page(tables, "daily-2020-01-01", generated_at="now") is None
    assert latest_completed_run(tables) == "http-20261121T100000Z-a1b2c3d4"
    assert latest_completed_run(InMemoryTables()) is None
