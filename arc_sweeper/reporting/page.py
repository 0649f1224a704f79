"""The run report as one self-contained HTML page: GET /api/sweeps/{runId}/report, `show --html`, the demo.

Rendered from the tables with Jinja2 (autoescaped) and pygal's inline SVG (charts.py). The
page asks for nothing: no script, font, image or style sheet from anywhere (its
Content-Security-Policy tells the browser so), so it opens offline, from a file or from a
Function response; and it holds nothing secret (no key, no webhook URL). Every list of names
comes from the vocabulary's enums, so a finding, outcome or attention kind added later
appears without a template change; the run row's `notices` (a stale release catalogue, say)
head the page. Machine extensions have a section of their own: the run row's extension counts
and the extensions needing attention, apart from the machines'.

Its length is the page's: one loader per section, each reading only the rows it shows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from arc_sweeper.outcome_history import daily_totals
from arc_sweeper.outcomes import STUCK_ADVICE
from arc_sweeper.records import ExtensionRecord, FleetRecord, MachineRecord, RingRecord, RunRecord, SubscriptionRecord
from arc_sweeper.reporting.attention import AttentionItem, attention_items
from arc_sweeper.reporting.charts import bar_chart, line_chart
from arc_sweeper.reporting.estate import SUPPORT_CLASSES, TrendPoint, releases_in_use, trend
from arc_sweeper.reporting.summary import ordered_names
from arc_sweeper.vocabulary import (
    Action,
    AttentionKind,
    EnableResult,
    ExtensionFinding,
    ExtensionOutcome,
    Finding,
    Outcome,
    RunStatus,
)

MAX_ROWS_PER_KIND = 25
"""Machines listed per attention kind; the rest are counted (all are in the machines table)."""

CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""What the page may load: nothing but its own inline styles."""

_ATTENTION_TEXT: dict[str, tuple[str, str]] = {
    AttentionKind.ENABLE_FAILED: (
        "ARM error",
        "ARM refused the PATCH (a lock, a missing permission, a read-only subscription): fix the"
        " cause and the next daily sweep tries again.",
    ),
    AttentionKind.UPGRADE_STUCK: ("Last attempt", STUCK_ADVICE),
    AttentionKind.UPGRADE_FAILED: (
        "Last attempt",
        "The agent's latest upgrade attempt failed and it will retry by itself; it is reported"
        " stuck once it has been failing for longer than STUCK_AFTER.",
    ),
    AttentionKind.MANUAL_UPGRADE_NEEDED: ("Agent version", Finding.TOO_OLD_FOR_AUTO_UPGRADE.explanation),
    AttentionKind.OUT_OF_SUPPORT: ("Agent version", Finding.OUT_OF_SUPPORT.explanation),
    AttentionKind.EXPIRED: ("Status", Finding.EXPIRED.explanation),
    AttentionKind.NOT_CONNECTED: ("Status", Finding.NOT_CONNECTED.explanation),
    AttentionKind.UNKNOWN_VERSION: ("Agent version", Finding.UNKNOWN_VERSION.explanation),
    AttentionKind.RING_HELD: (
        "State",
        "The ring's health gate failed, so its machines wait: see why below, and once the cause is"
        " fixed open it by hand (POST /api/rings/{ring}/open with a reason).",
    ),
    AttentionKind.EXTENSION_FAILED: (
        "Type and version",
        "Its installation failed, or an automatic upgrade failed and was rolled back (Azure"
        " tries again): the message says why; fix the cause on the machine, or reinstall it.",
    ),
    AttentionKind.EXTENSION_OPTED_OUT: (
        "Type and version",
        f"{ExtensionFinding.AUTO_UPGRADE_OFF.explanation} Turn enableAutomaticUpgrade on"
        " (EXTENSION_UPGRADE_MODE=enable does, except for types on EXTENSION_DENY_LIST), or"
        " keep the opt-out on purpose.",
    ),
    AttentionKind.EXTENSION_FAR_BEHIND: (
        "Type and version",
        "Two or more versions behind the newest of its type in the estate: check that it is"
        " opted in and healthy; a type automatic extension upgrade does not support is"
        " upgraded by its owner.",
    ),
}
"""Per attention kind: what its code column holds, and what to do. A kind not listed gets "Code" and no advice."""
_SUBJECT_HEADER: dict[str, str] = {AttentionKind.RING_HELD: "Ring"}
"""What an attention kind lists, when not machines."""


_MEANINGS: dict[str, str] = {finding: finding.explanation for finding in Finding}
_EXTENSION_MEANINGS: dict[str, str] = {finding: finding.explanation for finding in ExtensionFinding}


class ReportStore(Protocol):
    """The tables a report reads (arc_sweeper.tables.SweepStore)."""

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def all_runs(self) -> list[RunRecord]: ...

    def subscriptions(self, run_id: str, batch_index: int | None = None) -> list[SubscriptionRecord]: ...

    def all_machines(
        self, run_id: str, subscriptions: list[SubscriptionRecord] | None = None
    ) -> Iterator[MachineRecord]: ...

    def extensions(self, run_id: str, subscription_id: str) -> list[ExtensionRecord]: ...

    def fleet(self, subscription_id: str) -> dict[str, FleetRecord]: ...

    def rings(self) -> dict[int, RingRecord]: ...


@dataclass(frozen=True)
class Count:
    label: str
    value: int | str
    detail: str = ""


@dataclass(frozen=True)
class Figure:
    """Charts and the one table that holds every number they draw (its id describes the charts)."""

    id: str
    title: str
    charts: tuple[Markup, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[int | str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class AttentionGroup:
    kind: str
    title: str
    subject_header: str
    code_header: str
    advice: str
    total: int
    items: tuple[AttentionItem, ...]  # the oldest first, at most MAX_ROWS_PER_KIND

    @property
    def with_messages(self) -> bool:
        return any(item.message for item in self.items)


@dataclass(frozen=True)
class ExtensionSection:
    """The run's machine extensions: its counts (from the run row) and those needing attention."""

    seen: int
    findings: tuple[Count, ...]  # detail: what the finding means
    results: tuple[Count, ...]
    outcomes: tuple[Count, ...]
    attention: tuple[AttentionGroup, ...]


@dataclass(frozen=True)
class ReportPage:
    run: RunRecord
    generated_at: str
    headline: tuple[Count, ...]
    versions: Figure
    findings: Figure
    actions: tuple[Count, ...]
    results: tuple[Count, ...]
    follow_up: Figure | None  # None: nothing was followed (yet)
    trend: Figure
    attention: tuple[AttentionGroup, ...]
    extensions: ExtensionSection | None  # None: the run read no extension (EXTENSION_UPGRADE_MODE off)
    skipped: tuple[SubscriptionRecord, ...]
    content_security_policy: str = CONTENT_SECURITY_POLICY


def load_page(store: ReportStore, run_id: str, *, generated_at: str) -> ReportPage | None:
    """The report of one run, read from the tables; None for a run the runs table does not know."""
    run = store.get_run(run_id)
    if run is None:
        return None
    subscriptions = store.subscriptions(run_id)
    rows = list(store.all_machines(run_id, subscriptions))
    swept = [s.subscription_id for s in subscriptions if s.in_scope]
    fleet = [f for sub in swept for f in store.fleet(sub).values()]
    extensions = [e for sub in swept for e in store.extensions(run_id, sub)]
    return build_page(
        run, rows, subscriptions, store.all_runs(), fleet, store.rings().values(), extensions, generated_at=generated_at
    )


def latest_completed_run(store: ReportStore) -> str | None:
    """The run id of the most recently started run that has completed, if any."""
    done = [run for run in store.all_runs() if run.status == RunStatus.COMPLETED]
    return max(done, key=lambda run: run.started_at).run_id if done else None


def build_page(
    run: RunRecord,
    rows: Sequence[MachineRecord],
    subscriptions: Sequence[SubscriptionRecord],
    runs: Iterable[RunRecord],
    fleet: Iterable[FleetRecord],
    rings: Iterable[RingRecord] = (),
    extensions: Iterable[ExtensionRecord] = (),
    *,
    generated_at: str,
) -> ReportPage:
    """The page; attention lists machines and held rings (as the alert does), subscriptions and extensions
    have their own sections."""
    skipped = tuple(s for s in subscriptions if not s.in_scope)
    machine_items = attention_items(rows, [], rings)
    return ReportPage(
        run=run,
        generated_at=generated_at,
        headline=_headline(run, needing_attention=len(machine_items) + len(skipped)),
        versions=_versions(rows),
        findings=_findings(run),
        actions=_counts(run.action_counts, Action),
        results=_counts(run.result_counts, EnableResult),
        follow_up=_follow_up(run),
        trend=_trend(trend(run, runs, fleet)),
        attention=_attention_groups(machine_items),
        extensions=_extension_section(run, extensions),
        skipped=skipped,
    )


def render_page(page: ReportPage) -> str:
    return _ENV.get_template("report.html.j2").render(page=page)


def _headline(run: RunRecord, needing_attention: int) -> tuple[Count, ...]:
    compliant = run.finding_counts.get(Finding.COMPLIANT, 0)
    share = compliant / run.machines_seen if run.machines_seen else 0.0
    enabled = (
        Count("Would enable", run.result_counts.get(EnableResult.DRY_RUN, 0), "dry run: nothing was sent")
        if run.dry_run
        else Count("Automatic upgrade enabled", run.result_counts.get(EnableResult.ENABLED, 0))
    )
    return (
        Count("Machines seen", run.machines_seen, f"in {run.subscriptions_in_scope:,} subscriptions"),
        Count("Compliant", f"{share:.1%}", f"{compliant:,} of {run.machines_seen:,} machines"),
        enabled,
        Count("Enable failed", run.result_counts.get(EnableResult.FAILED, 0), "ARM refused the PATCH"),
        Count("Upgrades stuck", run.outcome_counts.get(Outcome.STUCK, 0), "in this run's follow-up"),
        Count("Subscriptions skipped", run.subscriptions_skipped),
        Count("Needing attention", needing_attention, "machines and subscriptions, below"),
    )


def _counts(counts: dict[str, int], order: Iterable[str]) -> tuple[Count, ...]:
    return tuple(Count(name, counts[name]) for name in ordered_names(order, counts))


def _versions(rows: Sequence[MachineRecord]) -> Figure:
    counts = releases_in_use(rows)
    releases = list(dict.fromkeys(c.release for c in counts))
    by_key = {(c.release, c.support): c.machines for c in counts}
    series = [
        (name, label, [by_key.get((release, name)) for release in releases])
        for name, label in SUPPORT_CLASSES
        if any(c.support == name for c in counts)
    ]
    labels = dict(SUPPORT_CLASSES)
    title = "Agent versions in use, by release"
    return Figure(
        "versions",
        title,
        (bar_chart(title=title, x_labels=releases, series=series, stacked=True, described_by="versions-table"),),
        ("Release", "Support", "Machines"),
        tuple((c.release, labels[c.support], c.machines) for c in counts),
        "Agent versions as discovered by this run; a release newer than the catalogue counts as supported.",
    )


def _findings(run: RunRecord) -> Figure:
    names = ordered_names(Finding, run.finding_counts)
    title = "Findings (a machine may have several)"
    chart = bar_chart(
        title=title,
        x_labels=names,
        series=[("findings", "machines", [run.finding_counts[n] for n in names])],
        horizontal=True,
        described_by="findings-table",
    )
    return Figure(
        "findings",
        title,
        (chart,),
        ("Finding", "Machines", "Meaning"),
        tuple((n, run.finding_counts[n], _MEANINGS.get(n, "")) for n in names),
    )


def _follow_up(run: RunRecord) -> Figure | None:
    days = daily_totals(run.outcome_history)
    if not days:
        return None
    names = ordered_names(Outcome, *days.values())
    title = "Follow-up outcomes at the end of each day"
    series = [(name, name, [days[day].get(name, 0) for day in days]) for name in names]
    chart = bar_chart(title=title, x_labels=list(days), series=series, stacked=True, described_by="follow-up-table")
    return Figure(
        "follow-up",
        title,
        (chart,),
        ("Day", *names),
        tuple((day, *(counts.get(n, 0) for n in names)) for day, counts in days.items()),
        f"The {run.result_counts.get(EnableResult.ENABLED, 0):,} machines this run enabled, at the last"
        " check of each day.",
    )


def _trend(points: list[TrendPoint]) -> Figure:
    days = [p.day for p in points]
    share = line_chart(
        title="Compliant share of machines seen",
        x_labels=days,
        percent=True,
        y_title="%",
        series=[("supported", "compliant", [round(100 * p.compliant_share, 1) for p in points])],
        described_by="trend-table",
    )
    counts = bar_chart(
        title="Enabled, failing, stuck and new machines per run",
        x_labels=days,
        series=[
            (Outcome.PENDING, "enabled", [p.enabled for p in points]),
            (Outcome.UPGRADE_FAILED, "failing", [p.failing for p in points]),
            (Outcome.STUCK, "stuck", [p.stuck for p in points]),
            ("new", "new", [p.new_machines for p in points]),
        ],
        described_by="trend-table",
    )
    return Figure(
        "trend",
        "The estate across runs",
        (share, counts),
        ("Day", "Run", "Machines seen", "New", "Compliant", "Compliant share", "Enabled", "Failing", "Stuck"),
        tuple(
            (
                p.day,
                p.run_id + (" (dry run)" if p.dry_run else ""),
                p.machines_seen,
                p.new_machines,
                p.compliant,
                f"{p.compliant_share:.1%}",
                p.enabled,
                p.failing,
                p.stuck,
            )
            for p in points
        ),
        "Runs over the same subscriptions, up to now. Failing and stuck: machines under follow-up that day, from"
        " every run's follow-up; new: machines the fleet table first saw since the run before.",
    )


def _extension_section(run: RunRecord, extensions: Iterable[ExtensionRecord]) -> ExtensionSection | None:
    if not run.extensions_seen:
        return None
    findings = run.extension_finding_counts
    return ExtensionSection(
        run.extensions_seen,
        tuple(Count(n, findings[n], _EXTENSION_MEANINGS.get(n, "")) for n in ordered_names(ExtensionFinding, findings)),
        _counts(run.extension_result_counts, EnableResult),
        _counts(run.extension_outcome_counts, ExtensionOutcome),
        _attention_groups(attention_items([], [], extensions=extensions), subject="Extension"),
    )


def _attention_groups(items: list[AttentionItem], subject: str = "Machine") -> tuple[AttentionGroup, ...]:
    groups = []
    for kind, members in itertools.groupby(items, key=lambda item: item.kind):
        ordered = sorted(members, key=lambda i: (not i.since, i.since, i.name.casefold(), i.resource_id))
        code_header, advice = _ATTENTION_TEXT.get(kind, ("Code", ""))
        groups.append(
            AttentionGroup(
                kind,
                kind.replace("_", " ").capitalize(),
                _SUBJECT_HEADER.get(kind, subject),
                code_header,
                advice,
                len(ordered),
                tuple(ordered[:MAX_ROWS_PER_KIND]),
            )
        )
    return tuple(groups)


def _number(value: object) -> object:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value


_ENV = Environment(
    loader=PackageLoader("arc_sweeper.reporting", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["number"] = _number
