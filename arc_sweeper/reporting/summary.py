"""A run as plain text: what the operator CLI and the demo print."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from arc_sweeper.outcome_history import daily_totals
from arc_sweeper.records import RunRecord
from arc_sweeper.reporting.attention import AttentionItem
from arc_sweeper.vocabulary import ExtensionFinding, ExtensionOutcome, Finding, Outcome


def ordered_names(order: Iterable[str], *counts: Mapping[str, int]) -> list[str]:
    """Names present in any of `counts`: the vocabulary's order first, then names it does not know yet."""
    present = {name for table in counts for name in table}
    known = [name for name in order if name in present]
    return known + sorted(present - set(known))


def _table(title: str, counts: Mapping[str, int], order: Iterable[str] = ()) -> list[str]:
    names = ordered_names(order, counts)
    if not names:
        return [f"{title}: none"]
    width = max(len(n) for n in names)
    return [f"{title}:"] + [f"  {n:<{width}}  {counts[n]:>6}" for n in names]


def summary_lines(run: RunRecord) -> list[str]:
    lines = [
        f"Run {run.run_id} ({run.trigger}, {'dry run' if run.dry_run else 'writes on'}): {run.status}",
        f"  started {run.started_at}, enabling done {run.enabling_ended_at or '-'}, ended {run.ended_at or '-'}",
        f"  subscriptions in scope {run.subscriptions_in_scope}, skipped {run.subscriptions_skipped}; "
        f"machines seen {run.machines_seen}; cohort followed {run.cohort_size}",
    ]
    lines += _table("Findings (a machine may have several)", run.finding_counts, Finding)
    lines += _table("Actions", run.action_counts)
    lines += _table("Enable results", run.result_counts)
    lines += _table("Follow-up outcomes", run.outcome_counts, Outcome)
    by_day = daily_totals(run.outcome_history)
    if by_day:
        names = ordered_names(Outcome, *by_day.values())
        lines.append("Outcomes per day (last check of the day):")
        lines.append("  day         " + " ".join(f"{n:>14}" for n in names))
        for day, counts in by_day.items():
            lines.append(f"  {day}  " + " ".join(f"{counts.get(n, 0):>14}" for n in names))
    if run.extensions_seen:
        lines.append(f"Extensions: {run.extensions_seen} on the machines seen")
        lines += _table(
            "  Extension findings (an extension may have several)", run.extension_finding_counts, ExtensionFinding
        )
        lines += _table("  Extension enable results", run.extension_result_counts)
        lines += _table("  Extension follow-up outcomes", run.extension_outcome_counts, ExtensionOutcome)
    if run.alerts:
        lines.append("Alerts:")
        lines += [f"  {kind}: {status}" for kind, status in run.alerts.items()]
    if run.error:
        lines.append(f"Error: {run.error}")
    lines += [f"Notice: {notice}" for notice in run.notices]
    return lines


def finding_lines(run: RunRecord) -> list[str]:
    """What each finding the run saw means."""
    return ["What the findings mean:"] + [
        f"  {finding}: {finding.explanation}" for finding in Finding if run.finding_counts.get(finding)
    ]


def attention_lines(items: list[AttentionItem], limit: int) -> list[str]:
    by_kind = Counter(item.kind for item in items)
    lines = [f"Needing attention: {len(items)} ({', '.join(f'{kind} {n}' for kind, n in by_kind.items())})"]
    for item in items[:limit]:
        lines.append(f"  {item.kind:<22} {item.name:<40} {(item.code + ' ' + item.message).strip()[:100]}")
    return lines


def print_lines(lines: Iterable[str], write: Callable[[str], Any] = print) -> None:
    for line in lines:
        write(line)
