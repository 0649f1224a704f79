"""The sweep's steps, one method per durable activity.

The orchestrators decide what runs when; this module does the work of each step against
Azure (Resource Graph, ARM), Table Storage and the Logic App. Every step takes the
orchestration's notion of "now" (`as_of`) instead of reading the clock, so a week of
follow-up means the same thing in Azure and on the local host's virtual clock.
"""
from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from arc_sweeper import alerts
from arc_sweeper.arm import Arm, ArmError, PatchOutcome
from arc_sweeper.durations import format_duration, parse_duration
from arc_sweeper.endpoints import is_public_cloud
from arc_sweeper.findings import Action, Classification, Finding, classify
from arc_sweeper.follow_up import follow_up_outcome
from arc_sweeper.logic_app import DeliveryStatus, deliver_alert
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.messages import (
    CheckCohort, DiscoverBatch, DiscoveryResult, EnableChunk, PhaseEnd, RunPlan, StartRun,
    SubscriptionWork, SweepRequest, Tally,
)
from arc_sweeper.records import (
    EnableResult, FleetRecord, MachineRecord, Outcome, RunPhase, RunRecord, RunStatus,
    SubscriptionRecord, clip, is_machine_id,
)
from arc_sweeper.report import AttentionItem, AttentionKind, RunReport
from arc_sweeper.resource_graph import ResourceGraph
from arc_sweeper.settings import Settings
from arc_sweeper.tables import SweepStore
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.versions import parse_agent_version

log = logging.getLogger(__name__)

ACTIVE_SUBSCRIPTION_STATES = frozenset({"enabled"})


@dataclass
class Sweeper:
    settings: Settings
    store: SweepStore
    graph: ResourceGraph
    arm: Arm
    status_base_url: str = ""

    # 1. start ------------------------------------------------------------------------------
    def start_run(self, start: StartRun) -> RunPlan:
        """Record the run and fix its scope; a retried call returns the plan already made."""
        request = SweepRequest.from_json(start.request)
        existing = self.store.get_run(request.run_id)
        if existing is not None and existing.phase != RunPhase.STARTING:
            return self._plan(existing)
        run = self.record_request(request, start.as_of)
        subscriptions = self._resolve_scope(request.run_id, request.subscriptions)
        self.store.put_subscriptions(subscriptions)
        in_scope = [s for s in subscriptions if s.in_scope]
        run = replace(
            run, phase=RunPhase.SWEEPING,
            subscriptions_in_scope=len(in_scope),
            subscriptions_skipped=len(subscriptions) - len(in_scope),
            batch_count=max((s.batch_index for s in in_scope), default=-1) + 1,
        )
        self.store.put_run(run)
        log.info("run %s: %d subscriptions in scope, %d skipped, dry run %s",
                 run.run_id, run.subscriptions_in_scope, run.subscriptions_skipped, run.dry_run)
        return self._plan(run)

    def record_request(self, request: SweepRequest, as_of: str) -> RunRecord:
        """The run's row as soon as it is accepted, with the effective options.

        The HTTP starter writes it before the orchestration starts, so that a second,
        overlapping request made meanwhile already sees this run as running.
        """
        window = parse_duration(request.follow_up_window) if request.follow_up_window else self.settings.follow_up_window
        poll = parse_duration(request.poll_interval) if request.poll_interval else self.settings.poll_interval
        self.store.create_tables()
        reason = self.dry_run_reason(request)
        run = RunRecord(
            run_id=request.run_id, trigger=request.trigger, dry_run=bool(reason), dry_run_reason=reason,
            scope=tuple(request.subscriptions) or tuple(self.settings.subscription_allow_list),
            status=RunStatus.RUNNING, phase=RunPhase.STARTING, started_at=as_of, updated_at=as_of,
            follow_up_window=format_duration(window), poll_interval=format_duration(min(poll, window)),
        )
        self.store.put_run(run)
        return run

    def dry_run_reason(self, request: SweepRequest) -> str:
        """Why this run must not write, or "" when it may. The cloud check wins over any request."""
        if self.settings.public_cloud_only and not is_public_cloud(self.settings.arm_endpoint):
            log.warning("run %s: %s is not the Azure public cloud, where automatic agent upgrade is offered: "
                        "reporting only (PUBLIC_CLOUD_ONLY)", request.run_id, self.settings.arm_endpoint)
            return "PUBLIC_CLOUD_ONLY: automatic agent upgrade is documented for the Azure public cloud only"
        if request.dry_run is not None:
            return "dryRun requested" if request.dry_run else ""
        return "DRY_RUN setting" if self.settings.dry_run else ""

    @staticmethod
    def _plan(run: RunRecord) -> RunPlan:
        return RunPlan(
            run_id=run.run_id, dry_run=run.dry_run, batch_count=run.batch_count,
            subscriptions_in_scope=run.subscriptions_in_scope,
            follow_up_window_s=int(parse_duration(run.follow_up_window).total_seconds()),
            poll_interval_s=int(parse_duration(run.poll_interval).total_seconds()),
        )

    def _resolve_scope(self, run_id: str, requested: Iterable[str]) -> list[SubscriptionRecord]:
        """Allow-list (request, else setting) or every visible subscription; minus the deny-list."""
        wanted = [s.lower() for s in requested] or list(self.settings.subscription_allow_list)
        denied = set(self.settings.subscription_deny_list)
        records: list[SubscriptionRecord] = []
        if wanted:
            for subscription_id in dict.fromkeys(wanted):
                try:
                    found = self.arm.get_subscription(subscription_id)
                except ArmError as error:
                    records.append(SubscriptionRecord(run_id, subscription_id, in_scope=False,
                                                      skip_reason=clip(f"cannot read subscription: {error}")))
                    continue
                records.append(SubscriptionRecord(run_id, subscription_id, found.display_name, found.state))
        else:
            records = [SubscriptionRecord(run_id, s.subscription_id, s.display_name, s.state)
                       for s in self.arm.list_subscriptions()]
        resolved = []
        for record in records:
            if record.in_scope and record.subscription_id in denied:
                record = replace(record, in_scope=False, skip_reason="on SUBSCRIPTION_DENY_LIST")
            elif record.in_scope and record.state.lower() not in ACTIVE_SUBSCRIPTION_STATES:
                record = replace(record, in_scope=False, skip_reason=f"subscription state is {record.state}")
            resolved.append(record)
        in_scope = sorted(r.subscription_id for r in resolved if r.in_scope)
        size = self.settings.resource_graph_batch_size
        batch_of = {sub: index // size for index, sub in enumerate(in_scope)}
        return [replace(r, batch_index=batch_of[r.subscription_id]) if r.in_scope else r for r in resolved]

    # 2. discover and classify ----------------------------------------------------------------
    def discover_batch(self, work: DiscoverBatch) -> DiscoveryResult:
        subscriptions = [s for s in self.store.subscriptions(work.run_id, work.batch_index) if s.in_scope]
        as_of = parse_timestamp(work.as_of)
        policy = self.settings.classification_policy(as_of.date())
        try:
            machines = list(self.graph.find_machines(s.subscription_id for s in subscriptions))
        except Exception as error:  # noqa: BLE001 - recorded per subscription, the sweep goes on
            reason = clip(f"Resource Graph query failed: {type(error).__name__}: {error}")
            log.error("run %s batch %d: %s", work.run_id, work.batch_index, reason)
            self.store.put_subscriptions(replace(s, in_scope=False, skip_reason=reason) for s in subscriptions)
            return DiscoveryResult(work.run_id, work.batch_index, 0, (), reason)
        rows = self._in_chunks([self._machine_row(work.run_id, m, classify(m, policy), work.as_of)
                                for m in machines])
        self.store.put_machines(rows)
        self._remember_in_fleet(rows, work.as_of)
        per_subscription = Counter(r.subscription_id for r in rows)
        to_enable = Counter(r.subscription_id for r in rows if r.enable_chunk >= 0)
        self.store.put_subscriptions(
            replace(s, machines=per_subscription[s.subscription_id], to_enable=to_enable[s.subscription_id])
            for s in subscriptions
        )
        size = self.settings.enable_batch_size
        return DiscoveryResult(
            work.run_id, work.batch_index, len(rows),
            tuple(SubscriptionWork(sub, n, -(-n // size)) for sub, n in sorted(to_enable.items())),
        )

    def _in_chunks(self, rows: list[MachineRecord]) -> list[MachineRecord]:
        """Number the machines to enable into chunks of ENABLE_BATCH_SIZE per subscription.

        Decided once, at discovery, and stored on the rows: each enabling activity then reads
        just its own chunk, whatever the size of the subscription.
        """
        position: Counter[str] = Counter()
        numbered = []
        for row in sorted(rows, key=lambda r: (r.subscription_id, r.row_key)):
            if row.action == Action.ENABLE_AUTO_UPGRADE.value:
                row = replace(row, enable_chunk=position[row.subscription_id] // self.settings.enable_batch_size)
                position[row.subscription_id] += 1
            numbered.append(row)
        return numbered

    @staticmethod
    def _machine_row(run_id: str, machine: MachineSnapshot, classification: Classification,
                     as_of: str) -> MachineRecord:
        auto = {True: "true", False: "false", None: "missing"}[machine.auto_upgrade]
        action = classification.action.value
        if not is_machine_id(machine.id):  # never PATCH a URL built from an id we do not recognise
            log.warning("run %s: Resource Graph returned an unrecognised machine id %r", run_id, machine.id[:200])
            action = Action.NONE.value
        return MachineRecord(
            run_id=run_id, resource_id=machine.id, subscription_id=machine.subscription_id,
            resource_group=machine.resource_group, name=machine.name, os_type=machine.os_type,
            location=machine.location, connection_status=machine.status,
            agent_version_seen=machine.agent_version, auto_upgrade_before=auto,
            findings=tuple(f.value for f in classification.findings),
            action=action, action_result=EnableResult.NOT_ATTEMPTED,
            last_attempt_status=machine.last_attempt_status,
            last_attempt_message=machine.last_attempt_message,
            last_attempt_time=machine.last_attempt_timestamp, updated_at=as_of,
        )

    def _remember_in_fleet(self, rows: list[MachineRecord], as_of: str) -> None:
        for subscription_id, members in _by_subscription(rows).items():
            known = self.store.fleet(subscription_id)
            updated = []
            for row in members:
                before = known.get(row.row_key) or FleetRecord(row.resource_id, subscription_id, row.name,
                                                               first_seen_at=as_of)
                compliant = row.findings == (Finding.COMPLIANT.value,)
                failing = row.last_attempt_status.lower() == "failed"
                updated.append(replace(
                    before, name=row.name, last_seen_at=as_of, last_run_id=row.run_id,
                    agent_version=row.agent_version_seen, last_findings=row.findings,
                    last_action=row.action, last_result="", updated_at=as_of,
                    first_noncompliant_at="" if compliant else (before.first_noncompliant_at or as_of),
                    failing_since=(before.failing_since or row.last_attempt_time or as_of) if failing else "",
                ))
            self.store.put_fleet(updated)

    # 3. enable ------------------------------------------------------------------------------
    def enable_chunk(self, work: EnableChunk) -> Tally:
        """PATCH one chunk; rows already decided (by an earlier attempt) are never sent again."""
        chunk = {r.row_key: r for r in self.store.machines(work.run_id, work.subscription_id,
                                                           enable_chunk=work.chunk_index)}
        todo = [r for r in chunk.values() if r.action_result == EnableResult.NOT_ATTEMPTED]
        if work.dry_run:
            decided = [replace(r, action_result=EnableResult.DRY_RUN, updated_at=work.as_of) for r in todo]
            self.store.put_machines(decided)
            chunk.update((r.row_key, r) for r in decided)
        else:
            errors: list[BaseException] = []
            with ThreadPoolExecutor(max_workers=self.settings.max_parallel_writes_per_subscription) as pool:
                futures = {pool.submit(self.arm.enable_automatic_upgrade, r.resource_id): r for r in todo}
                for future in as_completed(futures):
                    if future.exception() is not None:  # outcome unknown: left for the retry
                        errors.append(future.exception())
                        continue
                    # Written one by one, as soon as known: a retry must not PATCH it again.
                    row = self._with_patch_outcome(futures[future], future.result(), work.as_of)
                    self.store.put_machines([row])
                    chunk[row.row_key] = row
            if errors:
                # Only now, with every other outcome recorded: the activity's retry PATCHes just these.
                raise errors[0]
        results = list(chunk.values())
        refused = Counter(f"{r.arm_http_status} {r.arm_error_code}" for r in results
                          if r.action_result == EnableResult.FAILED)
        if refused:
            log.warning("run %s subscription %s chunk %d: %d PATCHes refused (%s)", work.run_id,
                        work.subscription_id, work.chunk_index, sum(refused.values()),
                        ", ".join(f"{n} x {reason}" for reason, n in refused.most_common()))
        self.store.merge_fleet(work.subscription_id, {
            r.row_key: {"last_result": r.action_result, "updated_at": work.as_of} for r in results})
        return Tally(dict(Counter(r.action_result for r in results)))

    @staticmethod
    def _with_patch_outcome(row: MachineRecord, outcome: PatchOutcome, as_of: str) -> MachineRecord:
        if outcome.succeeded:
            return replace(row, action_result=EnableResult.ENABLED, arm_http_status=outcome.http_status,
                           enabled_at=as_of, outcome=Outcome.PENDING, outcome_detail="waiting for the agent",
                           updated_at=as_of)
        return replace(row, action_result=EnableResult.FAILED, arm_http_status=outcome.http_status or 0,
                       arm_error_code=outcome.error_code, arm_error_message=clip(outcome.error_message),
                       updated_at=as_of)

    # 4. follow up ---------------------------------------------------------------------------
    def check_cohort(self, check: CheckCohort) -> Tally:
        """Re-read the batch's cohort from Resource Graph and record each machine's outcome."""
        subscriptions = [s.subscription_id for s in self.store.subscriptions(check.run_id, check.batch_index)
                         if s.in_scope]
        cohort = [row for sub in subscriptions for row in self.store.cohort(check.run_id, sub)]
        open_rows = [r for r in cohort if r.outcome not in Outcome.SETTLED]
        if not open_rows:
            return self._tally(cohort)
        try:
            machines = list(self.graph.find_machines({r.subscription_id for r in open_rows}))
        except Exception as error:  # noqa: BLE001 - one bad poll must not end days of follow-up
            log.error("run %s batch %d: follow-up poll skipped, Resource Graph failed: %s: %s",
                      check.run_id, check.batch_index, type(error).__name__, error)
            return self._tally(cohort)
        seen = {m.id.lower(): m for m in machines}
        catalogue = self.settings.catalogue
        versions = (parse_agent_version(m.agent_version) for m in seen.values())
        latest = catalogue.latest(v for v in versions if v is not None)
        now = parse_timestamp(check.checked_at)
        checked = [
            follow_up_outcome(r, seen.get(r.resource_id.lower()), catalogue=catalogue, latest=latest,
                              now=now, stuck_after=self.settings.stuck_after)
            for r in open_rows
        ]
        self.store.put_machines(checked)
        self._update_fleet_outcomes(checked, check.checked_at)
        done = {r.row_key: r for r in checked}
        return self._tally([done.get(r.row_key, r) for r in cohort])

    @staticmethod
    def _tally(cohort: list[MachineRecord]) -> Tally:
        return Tally(dict(Counter(r.outcome for r in cohort)),
                     sum(1 for r in cohort if r.outcome not in Outcome.SETTLED))

    def _update_fleet_outcomes(self, rows: list[MachineRecord], as_of: str) -> None:
        for subscription_id, members in _by_subscription(rows).items():
            known = self.store.fleet(subscription_id)
            updated = []
            for row in members:
                before = known.get(row.row_key)
                if before is None:
                    continue
                failing = row.outcome in (Outcome.UPGRADE_FAILED, Outcome.STUCK)
                updated.append(replace(
                    before, last_outcome=row.outcome, updated_at=as_of,
                    agent_version=row.agent_version_now or before.agent_version,
                    failing_since=(before.failing_since or row.failed_since) if failing else "",
                ))
            self.store.put_fleet(updated)

    # 5. phase ends, reports and alerts --------------------------------------------------------
    def finish_enabling(self, end: PhaseEnd) -> int:
        """Close the enabling phase, send the day's digest; returns the cohort size to follow."""
        def close(run: RunRecord, rows: list[MachineRecord]) -> RunRecord:
            cohort = sum(1 for r in rows if r.action_result == EnableResult.ENABLED)
            following = cohort > 0 and not run.dry_run
            return replace(run, cohort_size=cohort, enabling_ended_at=end.as_of,
                           status=RunStatus.FOLLOWING if following else RunStatus.COMPLETED,
                           phase=RunPhase.FOLLOWING if following else RunPhase.DONE,
                           ended_at="" if following else end.as_of)

        run = self._close_phase(end, alerts.AlertKind.SWEEP_COMPLETED, close, summary="sweep done")
        return run.cohort_size if run.status == RunStatus.FOLLOWING else 0

    def finish_run(self, end: PhaseEnd) -> None:
        self._close_phase(end, alerts.AlertKind.FOLLOW_UP_COMPLETED, lambda run, rows: replace(
            run, status=RunStatus.COMPLETED, phase=RunPhase.DONE, ended_at=end.as_of), summary="follow-up done")

    def record_failure(self, end: PhaseEnd) -> None:
        self._close_phase(end, alerts.AlertKind.SWEEP_FAILED, lambda run, rows: replace(
            run, status=RunStatus.FAILED, phase=RunPhase.DONE, ended_at=end.as_of, error=clip(end.error)))

    def _close_phase(self, end: PhaseEnd, kind: str, close: Callable[[RunRecord, list[MachineRecord]], RunRecord],
                     summary: str = "") -> RunRecord:
        """Recount the run from its rows, apply the phase's changes, alert, and save the run row."""
        run = self.store.get_run(end.run_id) or RunRecord(
            end.run_id, "unknown", False, (), RunStatus.FAILED, RunPhase.DONE, end.as_of)
        subscriptions = self.store.subscriptions(end.run_id)
        rows = list(self.store.all_machines(end.run_id, subscriptions))
        run = close(replace(self._with_counts(run, rows, subscriptions), updated_at=end.as_of), rows)
        if run.status == RunStatus.FAILED:
            log.error("run %s failed: %s", run.run_id, run.error)
        run = self._alerted(run, rows, subscriptions, kind, end.as_of)
        self.store.put_run(run)
        if summary:
            self._log_summary(run, summary)
        return run

    @staticmethod
    def _log_summary(run: RunRecord, what: str) -> None:
        """One line per phase for the Functions logs: a warning when anything needs a person."""
        trouble = (run.result_counts.get(EnableResult.FAILED, 0) + run.outcome_counts.get(Outcome.STUCK, 0)
                   + run.outcome_counts.get(Outcome.UPGRADE_FAILED, 0) + run.subscriptions_skipped)
        log.log(logging.WARNING if trouble else logging.INFO,
                "run %s %s: %d machines in %d subscriptions (%d skipped); actions %s; enable results %s; "
                "outcomes %s%s", run.run_id, what, run.machines_seen, run.subscriptions_in_scope,
                run.subscriptions_skipped, run.action_counts, run.result_counts, run.outcome_counts,
                " (dry run)" if run.dry_run else "")

    @staticmethod
    def _with_counts(run: RunRecord, rows: list[MachineRecord], subscriptions: list[SubscriptionRecord]) -> RunRecord:
        # Recounted: discovery skips the subscriptions of a batch whose query failed.
        in_scope = sum(1 for s in subscriptions if s.in_scope)
        return replace(
            run, machines_seen=len(rows),
            subscriptions_in_scope=in_scope, subscriptions_skipped=len(subscriptions) - in_scope,
            finding_counts=dict(Counter(f for r in rows for f in r.findings)),
            action_counts=dict(Counter(r.action for r in rows)),
            result_counts=dict(Counter(r.action_result for r in rows if r.action == Action.ENABLE_AUTO_UPGRADE.value)),
            outcome_counts=dict(Counter(r.outcome for r in rows if r.outcome)),
        )

    @staticmethod
    def report(run: RunRecord, rows: list[MachineRecord], subscriptions: list[SubscriptionRecord]) -> RunReport:
        skipped = [s for s in subscriptions if not s.in_scope]
        return RunReport(
            run_id=run.run_id, trigger=run.trigger, dry_run=run.dry_run, scope=run.scope, status=run.status,
            started_at=run.started_at, ended_at=run.ended_at, subscriptions_in_scope=run.subscriptions_in_scope,
            machines_seen=run.machines_seen, finding_counts=run.finding_counts, action_counts=run.action_counts,
            result_counts=run.result_counts, outcome_counts=run.outcome_counts,
            attention=tuple(attention_items(rows, skipped)), error=run.error,
        )

    def _alerted(self, run: RunRecord, rows: list[MachineRecord], subscriptions: list[SubscriptionRecord],
                 kind: str, as_of: str) -> RunRecord:
        """Send the alert for this phase; delivery problems are recorded, never raised.

        A retried activity finds the alert already delivered on the run row and does not send it again.
        """
        if run.alerts.get(kind, "").startswith(DeliveryStatus.DELIVERED):
            return run
        status_url = f"{self.status_base_url}/api/sweeps/{run.run_id}" if self.status_base_url else ""
        payload = alerts.build_alert(kind, self.report(run, rows, subscriptions), generated_at=as_of,
                                     status_url=status_url)
        result = deliver_alert(self.settings.webhook_url, payload)
        log.info("run %s: %s alert %s (%s)", run.run_id, kind, result.status, result.detail)
        return replace(run, alerts={**run.alerts, kind: clip(f"{result.status}: {result.detail}")})

    # HTTP API helpers -----------------------------------------------------------------------
    def runs_still_enabling(self) -> list[RunRecord]:
        return self.store.runs_with_status(RunStatus.RUNNING)


def _by_subscription(rows: Iterable[MachineRecord]) -> dict[str, list[MachineRecord]]:
    grouped: dict[str, list[MachineRecord]] = {}
    for row in rows:
        grouped.setdefault(row.subscription_id, []).append(row)
    return grouped


def attention_items(rows: Iterable[MachineRecord], skipped: Iterable[SubscriptionRecord]) -> list[AttentionItem]:
    """Everything an operator should look at, most urgent kinds first."""
    items: list[AttentionItem] = []
    for r in rows:
        def item(kind: str, code: str = "", message: str = "", since: str = "") -> AttentionItem:
            return AttentionItem(kind, r.resource_id, r.subscription_id, r.name, code, message, since)

        if r.action_result == EnableResult.FAILED:
            items.append(item(AttentionKind.ENABLE_FAILED, r.arm_error_code, r.arm_error_message, r.updated_at))
        if r.outcome == Outcome.STUCK:
            items.append(item(AttentionKind.UPGRADE_STUCK, r.last_attempt_status, r.last_attempt_message, r.failed_since))
        elif r.outcome == Outcome.UPGRADE_FAILED:
            items.append(item(AttentionKind.UPGRADE_FAILED, r.last_attempt_status, r.last_attempt_message, r.failed_since))
        findings = set(r.findings)
        if Finding.EXCLUDED.value in findings:
            continue
        if Finding.TOO_OLD_FOR_AUTO_UPGRADE.value in findings:
            items.append(item(AttentionKind.MANUAL_UPGRADE_NEEDED, r.agent_version_seen))
        elif Finding.OUT_OF_SUPPORT.value in findings and r.action != Action.ENABLE_AUTO_UPGRADE.value:
            items.append(item(AttentionKind.OUT_OF_SUPPORT, r.agent_version_seen))
        if Finding.EXPIRED.value in findings:
            items.append(item(AttentionKind.EXPIRED, r.connection_status))
        elif Finding.NOT_CONNECTED.value in findings:
            items.append(item(AttentionKind.NOT_CONNECTED, r.connection_status))
        if Finding.UNKNOWN_VERSION.value in findings:
            items.append(item(AttentionKind.UNKNOWN_VERSION, r.agent_version_seen or "missing"))
    for s in skipped:
        items.append(AttentionItem(AttentionKind.SUBSCRIPTION_SKIPPED, f"/subscriptions/{s.subscription_id}",
                                   s.subscription_id, s.display_name or s.subscription_id, s.state, s.skip_reason))
    order = {kind: index for index, kind in enumerate(AttentionKind.ALL)}
    return sorted(items, key=lambda i: (order.get(i.kind, len(order)), i.resource_id))
