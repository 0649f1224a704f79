"""Step 5: close a phase of a run: recount it from its rows, report, alert.

`finish_enabling` ends the day's sweep (the digest alert), `finish_run` ends the
follow-up (the cohort's outcome alert) and `record_failure` records a run that stopped.
Each recounts the run from Table Storage, so a retried activity gives the same answer.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from arc_sweeper.extensions import ranked
from arc_sweeper.fleet import FleetLedger
from arc_sweeper.messages import PhaseEnd
from arc_sweeper.ports import (
    AlertSender,
    ExtensionStore,
    MachineStore,
    ReleaseStore,
    RingStore,
    RunStore,
    ScopeLeases,
    SubscriptionStore,
)
from arc_sweeper.records import ExtensionRecord, MachineRecord, RunRecord, SubscriptionRecord
from arc_sweeper.releases import stale_notice
from arc_sweeper.reporting.alerts import build_alert
from arc_sweeper.reporting.report import build_report
from arc_sweeper.text import clip
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.vocabulary import (
    Action,
    AlertKind,
    DeliveryStatus,
    EnableResult,
    Outcome,
    RunPhase,
    RunStatus,
    Trigger,
)

log = logging.getLogger(__name__)


class ClosingStore(RunStore, SubscriptionStore, MachineStore, ExtensionStore, ReleaseStore, RingStore, Protocol):
    """A run's every table: closing a phase recounts all of it."""


@dataclass(frozen=True)
class RunRows:
    """Everything a run recorded, read once per phase end."""

    subscriptions: list[SubscriptionRecord]
    machines: list[MachineRecord]
    extensions: list[ExtensionRecord]


@dataclass(frozen=True)
class ClosingStep:
    store: ClosingStore
    alerts: AlertSender
    leases: ScopeLeases
    fleet: FleetLedger
    app_url: str = ""

    def finish_enabling(self, end: PhaseEnd) -> int:
        """Close the enabling phase, send the day's digest; returns the cohort size to follow."""
        on = parse_timestamp(end.as_of)
        assert on is not None, "as_of comes from the orchestration clock"
        stale = stale_notice(self.store.get_run(end.run_id), self.store.observed_releases(), on.date())

        def close(run: RunRecord, rows: RunRows) -> RunRecord:
            cohort = sum(1 for r in rows.machines if r.action_result == EnableResult.ENABLED) + sum(
                1 for r in rows.extensions if r.action_result == EnableResult.ENABLED
            )
            following = cohort > 0 and not run.dry_run
            return replace(
                run,
                cohort_size=cohort,
                enabling_ended_at=end.as_of,
                status=RunStatus.FOLLOWING if following else RunStatus.COMPLETED,
                phase=RunPhase.FOLLOWING if following else RunPhase.DONE,
                ended_at="" if following else end.as_of,
                error=clip(end.error),
                notices=tuple(dict.fromkeys([*run.notices, *([stale] if stale else [])])),
            )

        run = self._close_phase(end, AlertKind.SWEEP_COMPLETED, close, summary="sweep done", rank=True)
        self.leases.release(end.run_id)  # enabling is over: an overlapping sweep may start
        return run.cohort_size if run.status == RunStatus.FOLLOWING else 0

    def finish_run(self, end: PhaseEnd) -> None:
        self._close_phase(
            end,
            AlertKind.FOLLOW_UP_COMPLETED,
            lambda run, rows: replace(run, status=RunStatus.COMPLETED, phase=RunPhase.DONE, ended_at=end.as_of),
            summary="follow-up done",
        )

    def record_failure(self, end: PhaseEnd) -> None:
        self._close_phase(
            end,
            AlertKind.SWEEP_FAILED,
            lambda run, rows: replace(
                run, status=RunStatus.FAILED, phase=RunPhase.DONE, ended_at=end.as_of, error=clip(end.error)
            ),
        )
        self.leases.release(end.run_id)

    def _close_phase(
        self,
        end: PhaseEnd,
        kind: AlertKind,
        close: Callable[[RunRecord, RunRows], RunRecord],
        summary: str = "",
        rank: bool = False,
    ) -> RunRecord:
        """Recount the run from its rows, apply the phase's changes, alert, and save the run row.

        With `rank` (enabling's end, once every batch is in), extensions are ranked against the
        whole estate's versions and the fleet view learns each machine's extensions.
        """
        run = self.store.get_run(end.run_id)
        if run is None:  # the run failed before its row was written (and perhaps before any table was made)
            self.store.create_tables()
            run = RunRecord(end.run_id, Trigger.UNKNOWN, False, 0, RunStatus.FAILED, RunPhase.DONE, end.as_of)
        rows = self._rows(end.run_id)
        if rank and rows.extensions:
            rows = self._ranked(rows, end.as_of)
        run = close(replace(with_counts(run, rows), updated_at=end.as_of), rows)
        if run.status == RunStatus.FAILED:
            log.error("run %s failed: %s", run.run_id, run.error)
        run = self._alerted(run, rows, kind, end.as_of)
        self.store.put_run(run)
        if summary:
            log_summary(run, summary)
        return run

    def _rows(self, run_id: str) -> RunRows:
        subscriptions = self.store.subscriptions(run_id)
        swept = [s.subscription_id for s in subscriptions if s.in_scope]
        return RunRows(
            subscriptions,
            [row for sub in swept for row in self.store.machines(run_id, sub)],
            [row for sub in swept for row in self.store.extensions(run_id, sub)],
        )

    def _ranked(self, rows: RunRows, as_of: str) -> RunRows:
        changed = ranked(rows.extensions)
        self.store.put_extensions(changed)
        done = {(r.partition_key, r.row_key): r for r in changed}
        extensions = [done.get((r.partition_key, r.row_key), r) for r in rows.extensions]
        self.fleet.record_extensions(extensions, as_of, machines=rows.machines)
        return replace(rows, extensions=extensions)

    def _alerted(self, run: RunRecord, rows: RunRows, kind: AlertKind, as_of: str) -> RunRecord:
        """Send the alert for this phase; delivery problems are recorded, never raised.

        A retried activity finds the alert already delivered on the run row and does not send it again.
        """
        if run.alerts.get(kind, "").startswith(DeliveryStatus.DELIVERED):
            return run
        report = build_report(run, rows.machines, rows.subscriptions, self.store.rings().values(), rows.extensions)
        payload = build_alert(kind, report, generated_at=as_of, app_url=self.app_url)
        result = self.alerts.deliver(payload)
        log.info("run %s: %s alert %s (%s)", run.run_id, kind, result.status, result.detail)
        return replace(run, alerts={**run.alerts, kind: clip(f"{result.status}: {result.detail}")})


def with_counts(run: RunRecord, rows: RunRows) -> RunRecord:
    """The run's counts, recounted from its rows (discovery may have skipped a batch)."""
    in_scope = sum(1 for s in rows.subscriptions if s.in_scope)
    machines, extensions = rows.machines, rows.extensions
    return replace(
        run,
        machines_seen=len(machines),
        subscriptions_in_scope=in_scope,
        subscriptions_skipped=len(rows.subscriptions) - in_scope,
        finding_counts=dict(Counter(str(f) for r in machines for f in r.findings)),
        action_counts=dict(Counter(str(r.action) for r in machines)),
        result_counts=dict(Counter(str(r.action_result) for r in machines if r.action == Action.ENABLE_AUTO_UPGRADE)),
        outcome_counts=dict(Counter(str(r.outcome) for r in machines if r.outcome)),
        extensions_seen=len(extensions),
        extension_finding_counts=dict(Counter(str(f) for r in extensions for f in r.findings)),
        extension_result_counts=dict(
            Counter(str(r.action_result) for r in extensions if r.action == Action.ENABLE_AUTO_UPGRADE)
        ),
        extension_outcome_counts=dict(Counter(str(r.outcome) for r in extensions if r.outcome)),
    )


def log_summary(run: RunRecord, what: str) -> None:
    """One line per phase for the Functions logs: a warning when anything needs a person."""
    trouble = (
        run.result_counts.get(EnableResult.FAILED, 0)
        + run.outcome_counts.get(Outcome.STUCK, 0)
        + run.outcome_counts.get(Outcome.UPGRADE_FAILED, 0)
        + run.subscriptions_skipped
    )
    log.log(
        logging.WARNING if trouble else logging.INFO,
        "run %s %s: %d machines in %d subscriptions (%d skipped); actions %s; enable results %s; outcomes %s%s",
        run.run_id,
        what,
        run.machines_seen,
        run.subscriptions_in_scope,
        run.subscriptions_skipped,
        run.action_counts,
        run.result_counts,
        run.outcome_counts,
        " (dry run)" if run.dry_run else "",
    )
