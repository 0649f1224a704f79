"""Step 5: close a phase of a run: recount it from its rows, report, alert.

`finish_enabling` ends the day's sweep (the digest alert), `finish_run` ends the
follow-up (the cohort's outcome alert) and `record_failure` records a run that stopped.
Each recounts the run from Table Storage, so a retried activity gives the same answer.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from arc_sweeper.extensions import VersionsInUse, ranked, versions_in_use
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
from arc_sweeper.reporting.alerts import DEFAULT_MAX_ITEMS, build_alert
from arc_sweeper.reporting.attention import AttentionDigest, attention_items
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

SUBSCRIPTIONS_READ_AT_ONCE = 8
"""Subscriptions whose rows are read (and ranked) at once when a phase closes: Table Storage answers
each query in tens of milliseconds, and a 1,000-subscription run would otherwise wait for them in turn."""
ATTEMPTS_PER_SUBSCRIPTION = 3
"""Tries at one subscription's part when storage drops the connection: closing a large run sends thousands
of requests, a dropped one should not start them all over, and the part is safe to repeat (reads, upserts)."""


class ClosingStore(RunStore, SubscriptionStore, MachineStore, ExtensionStore, ReleaseStore, RingStore, Protocol):
    """A run's every table: closing a phase recounts all of it."""


@dataclass
class RunTally:
    """What closing a phase counts, added one subscription's rows at a time.

    A 100,000-machine run has some 350,000 rows. They are read a subscription at a time and only
    these counts and a bounded digest of attention items are kept, never the rows themselves.
    """

    attention: AttentionDigest = field(default_factory=lambda: AttentionDigest(keep=DEFAULT_MAX_ITEMS))
    machines_seen: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    results: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    extensions_seen: int = 0
    extension_findings: Counter[str] = field(default_factory=Counter)
    extension_results: Counter[str] = field(default_factory=Counter)
    extension_outcomes: Counter[str] = field(default_factory=Counter)
    cohort: int = 0  # machines and extensions this run enabled, which the follow-up watches

    def add(self, machines: Iterable[MachineRecord], extensions: Iterable[ExtensionRecord]) -> None:
        machines, extensions = list(machines), list(extensions)
        self.machines_seen += len(machines)
        self.findings.update(str(f) for r in machines for f in r.findings)
        self.actions.update(str(r.action) for r in machines)
        self.results.update(str(r.action_result) for r in machines if r.action == Action.ENABLE_AUTO_UPGRADE)
        self.outcomes.update(str(r.outcome) for r in machines if r.outcome)
        self.extensions_seen += len(extensions)
        self.extension_findings.update(str(f) for r in extensions for f in r.findings)
        self.extension_results.update(
            str(r.action_result) for r in extensions if r.action == Action.ENABLE_AUTO_UPGRADE
        )
        self.extension_outcomes.update(str(r.outcome) for r in extensions if r.outcome)
        self.cohort += sum(1 for r in machines if r.action_result == EnableResult.ENABLED)
        self.cohort += sum(1 for r in extensions if r.action_result == EnableResult.ENABLED)
        self.attention.add(attention_items(machines, [], extensions=extensions))

    def merge(self, other: RunTally) -> None:
        """Add another subscription's tally to this one."""
        self.machines_seen += other.machines_seen
        self.extensions_seen += other.extensions_seen
        self.cohort += other.cohort
        for mine, theirs in (
            (self.findings, other.findings),
            (self.actions, other.actions),
            (self.results, other.results),
            (self.outcomes, other.outcomes),
            (self.extension_findings, other.extension_findings),
            (self.extension_results, other.extension_results),
            (self.extension_outcomes, other.extension_outcomes),
        ):
            mine.update(theirs)
        self.attention.merge(other.attention)


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

        def close(run: RunRecord, tally: RunTally) -> RunRecord:
            following = tally.cohort > 0 and not run.dry_run
            return replace(
                run,
                cohort_size=tally.cohort,
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
            lambda run, tally: replace(run, status=RunStatus.COMPLETED, phase=RunPhase.DONE, ended_at=end.as_of),
            summary="follow-up done",
        )

    def record_failure(self, end: PhaseEnd) -> None:
        self._close_phase(
            end,
            AlertKind.SWEEP_FAILED,
            lambda run, tally: replace(
                run, status=RunStatus.FAILED, phase=RunPhase.DONE, ended_at=end.as_of, error=clip(end.error)
            ),
        )
        self.leases.release(end.run_id)

    def _close_phase(
        self,
        end: PhaseEnd,
        kind: AlertKind,
        close: Callable[[RunRecord, RunTally], RunRecord],
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
        subscriptions = self.store.subscriptions(end.run_id)
        tally = self._tally(end.run_id, [s.subscription_id for s in subscriptions if s.in_scope], end.as_of, rank)
        skipped = [s for s in subscriptions if not s.in_scope]
        tally.attention.add(attention_items([], skipped, self.store.rings().values()))
        run = close(replace(with_counts(run, subscriptions, tally), updated_at=end.as_of), tally)
        if run.status == RunStatus.FAILED:
            log.error("run %s failed: %s", run.run_id, run.error)
        run = self._alerted(run, subscriptions, tally, kind, end.as_of)
        self.store.put_run(run)
        if summary:
            log_summary(run, summary)
        return run

    def _tally(self, run_id: str, swept: list[str], as_of: str, rank: bool) -> RunTally:
        """Every swept subscription's rows counted (and with `rank`, ranked), a few subscriptions at a time."""
        in_use: VersionsInUse | None = None
        with ThreadPoolExecutor(SUBSCRIPTIONS_READ_AT_ONCE) as pool:
            if rank:
                seen = pool.map(lambda sub: self.store.extension_versions(run_id, sub), swept)
                in_use = versions_in_use(version for versions in seen for version in versions)
            tally = RunTally()
            for part in pool.map(lambda sub: self._subscription_tally(run_id, sub, as_of, in_use), swept):
                tally.merge(part)
        return tally

    def _subscription_tally(
        self, run_id: str, subscription_id: str, as_of: str, in_use: VersionsInUse | None
    ) -> RunTally:
        """One subscription's part, tried again (a bounded number of times) when the connection drops."""
        for attempt in range(1, ATTEMPTS_PER_SUBSCRIPTION):
            try:
                return self._count_subscription(run_id, subscription_id, as_of, in_use)
            except (ServiceRequestError, ServiceResponseError) as error:
                log.warning(
                    "run %s subscription %s: closing's read or write failed (%s), trying again (attempt %d of %d)",
                    run_id,
                    subscription_id,
                    type(error).__name__,
                    attempt + 1,
                    ATTEMPTS_PER_SUBSCRIPTION,
                )
                time.sleep(attempt)
        return self._count_subscription(run_id, subscription_id, as_of, in_use)

    def _count_subscription(
        self, run_id: str, subscription_id: str, as_of: str, in_use: VersionsInUse | None
    ) -> RunTally:
        """One subscription's rows counted; with the estate's versions, its extensions ranked first and the
        fleet view told each machine's extensions."""
        machines = self.store.machines(run_id, subscription_id)
        extensions = self.store.extensions(run_id, subscription_id)
        if in_use is not None and extensions:
            changed = ranked(extensions, in_use)
            self.store.put_extensions(changed)
            done = {r.row_key: r for r in changed}
            extensions = [done.get(r.row_key, r) for r in extensions]
            self.fleet.record_extensions(extensions, as_of, machines=machines)
        tally = RunTally()
        tally.add(machines, extensions)
        return tally

    def _alerted(
        self, run: RunRecord, subscriptions: list[SubscriptionRecord], tally: RunTally, kind: AlertKind, as_of: str
    ) -> RunRecord:
        """Send the alert for this phase; delivery problems are recorded, never raised.

        A retried activity finds the alert already delivered on the run row and does not send it again.
        """
        if run.alerts.get(kind, "").startswith(DeliveryStatus.DELIVERED):
            return run
        report = build_report(run, subscriptions, tally.attention)
        payload = build_alert(kind, report, generated_at=as_of, app_url=self.app_url)
        result = self.alerts.deliver(payload)
        log.info("run %s: %s alert %s (%s)", run.run_id, kind, result.status, result.detail)
        return replace(run, alerts={**run.alerts, kind: clip(f"{result.status}: {result.detail}")})


def with_counts(run: RunRecord, subscriptions: list[SubscriptionRecord], tally: RunTally) -> RunRecord:
    """The run's counts, recounted from its rows (discovery may have skipped a batch)."""
    in_scope = sum(1 for s in subscriptions if s.in_scope)
    return replace(
        run,
        machines_seen=tally.machines_seen,
        subscriptions_in_scope=in_scope,
        subscriptions_skipped=len(subscriptions) - in_scope,
        finding_counts=dict(tally.findings),
        action_counts=dict(tally.actions),
        result_counts=dict(tally.results),
        outcome_counts=dict(tally.outcomes),
        extensions_seen=tally.extensions_seen,
        extension_finding_counts=dict(tally.extension_findings),
        extension_result_counts=dict(tally.extension_results),
        extension_outcome_counts=dict(tally.extension_outcomes),
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
