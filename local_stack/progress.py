"""Live progress and the end-of-run summary, as an operator would want to read them."""
from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Any, Callable, TextIO

from arc_sweeper.records import RunRecord
from local_stack.clock import Clock

OUTCOME_ORDER = ("upgraded", "pending", "upgrade_failed", "stuck", "disconnected", "gone")


class ProgressPrinter:
    """Prints a line when a run changes phase or a follow-up poll finishes.

    Called by the local Durable host after each episode with the instance id and its
    custom status; it also keeps the last poll of each (virtual) day for the summary.
    """

    def __init__(self, clock: Clock, out: TextIO = sys.stderr) -> None:
        self._clock = clock
        self._out = out
        self._lock = threading.Lock()
        self._last: dict[str, Any] = {}
        self.polls_by_day: "OrderedDict[str, dict[str, int]]" = OrderedDict()

    def __call__(self, instance_id: str, status: Any) -> None:
        if not isinstance(status, dict) or self._last.get(instance_id) == status:
            return
        with self._lock:
            self._last[instance_id] = status
            now = self._clock.now()
            stamp = now.strftime("%a %d %b %H:%M")
            if "poll" in status:
                outcomes = status.get("outcomes", {})
                self.polls_by_day[now.strftime("%Y-%m-%d")] = outcomes
                shown = ", ".join(f"{k} {outcomes[k]}" for k in OUTCOME_ORDER if outcomes.get(k))
                self._print(f"[{stamp}] follow-up poll {status['poll']}: {shown or 'nothing yet'}")
            elif ":" not in instance_id and "phase" in status:
                details = {k: v for k, v in status.items() if k not in ("runId", "phase")}
                extra = ", ".join(f"{k} {v}" for k, v in details.items() if not isinstance(v, dict))
                self._print(f"[{stamp}] {status['runId']}: {status['phase']}" + (f" ({extra})" if extra else ""))

    def _print(self, line: str) -> None:
        print(line, file=self._out, flush=True)


def _table(title: str, counts: dict[str, int], order: tuple[str, ...] = ()) -> list[str]:
    names = [n for n in order if n in counts] + sorted(n for n in counts if n not in order)
    if not names:
        return [f"{title}: none"]
    width = max(len(n) for n in names)
    return [f"{title}:"] + [f"  {n:<{width}}  {counts[n]:>6}" for n in names]


def summary_lines(run: RunRecord, polls_by_day: dict[str, dict[str, int]] | None = None) -> list[str]:
    lines = [
        f"Run {run.run_id} ({run.trigger}, {'dry run' if run.dry_run else 'writes on'}): {run.status}",
        f"  started {run.started_at}, enabling done {run.enabling_ended_at or '-'}, ended {run.ended_at or '-'}",
        f"  subscriptions in scope {run.subscriptions_in_scope}, skipped {run.subscriptions_skipped}; "
        f"machines seen {run.machines_seen}; cohort followed {run.cohort_size}",
    ]
    lines += _table("Findings (a machine may have several)", run.finding_counts)
    lines += _table("Actions", run.action_counts)
    lines += _table("Enable results", run.result_counts)
    lines += _table("Follow-up outcomes", run.outcome_counts, OUTCOME_ORDER)
    if polls_by_day:
        lines.append("Outcomes per day (last poll of the day):")
        lines.append("  day         " + " ".join(f"{n:>14}" for n in OUTCOME_ORDER))
        for day, counts in polls_by_day.items():
            lines.append(f"  {day}  " + " ".join(f"{counts.get(n, 0):>14}" for n in OUTCOME_ORDER))
    if run.alerts:
        lines.append("Alerts:")
        lines += [f"  {kind}: {status}" for kind, status in run.alerts.items()]
    if run.error:
        lines.append(f"Error: {run.error}")
    return lines


def print_summary(run: RunRecord, polls_by_day: dict | None = None,
                  write: Callable[[str], Any] = print) -> None:
    for line in summary_lines(run, polls_by_day):
        write(line)
