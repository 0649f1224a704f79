"""Step 2: read one batch of subscriptions from Resource Graph, classify, record."""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from typing import Protocol

from azure.core.exceptions import HttpResponseError

from arc_sweeper.findings import ClassificationPolicy, classify
from arc_sweeper.fleet import FleetLedger
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.messages import BatchFailure, DiscoverBatch, DiscoveryResult, RingPlan, SubscriptionWork
from arc_sweeper.ports import MachineReader, MachineStore, ReleaseStore, RunStore, SubscriptionStore
from arc_sweeper.records import MachineRecord
from arc_sweeper.releases import catalogue_of, unlisted_releases
from arc_sweeper.resource_graph import GraphQueryError
from arc_sweeper.resource_ids import parse_machine_id
from arc_sweeper.rings import RingPolicy
from arc_sweeper.settings import Settings
from arc_sweeper.text import clip
from arc_sweeper.throttling import GraphQuota, QuotaGate
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.vocabulary import Action, EnableResult

log = logging.getLogger(__name__)


class DiscoveryStore(RunStore, SubscriptionStore, MachineStore, ReleaseStore, Protocol):
    """What discovery reads (the run's catalogue) and writes: subscription and machine rows, new releases."""


@dataclass(frozen=True)
class DiscoveryStep:
    settings: Settings
    store: DiscoveryStore
    graph: MachineReader
    fleet: FleetLedger

    def discover_batch(self, work: DiscoverBatch) -> DiscoveryResult:
        """Read, classify and record the batch.

        A refusal that a retry cannot change (403, a bad query, a truncated result) marks the
        batch not swept at once. Anything transient (throttling, 5xx, the network) raises, so
        the activity is retried; once the retries are spent the orchestration records the
        batch with `mark_not_swept`.
        """
        subscriptions = [s for s in self.store.subscriptions(work.run_id, work.batch_index) if s.in_scope]
        as_of = parse_timestamp(work.as_of)
        assert as_of is not None, "as_of comes from the orchestration clock"
        catalogue = catalogue_of(self.store.get_run(work.run_id), self.settings.releases.catalogue)
        policy = self.settings.classification_policy(as_of.date(), catalogue)
        gate = QuotaGate(work.quota or GraphQuota(), max_wait_s=self.settings.max_retry_wait.total_seconds())
        try:
            machines = list(self.graph.find_machines((s.subscription_id for s in subscriptions), gate))
        except Exception as error:
            if not is_permanent(error):
                raise
            self.mark_not_swept(BatchFailure(work.run_id, work.batch_index, describe(error), work.as_of))
            return DiscoveryResult(work.run_id, work.batch_index, 0, (), gate.state())
        machines, dropped = within_scope(machines, {s.subscription_id for s in subscriptions})
        if dropped:
            log.warning("run %s batch %d: %d Resource Graph rows outside the batch's subscriptions dropped, e.g. %r",
                        work.run_id, work.batch_index, len(dropped), dropped[0].id[:200])
        staged = self.settings.ring_policy if work.rings is not None else None
        rows = self._in_chunks([in_ring(machine_row(work.run_id, m, policy, work.as_of), m, work.rings, staged)
                                for m in machines])
        self.store.put_machines(rows)
        self.fleet.record_discovery(rows, work.as_of)
        for release in unlisted_releases(rows, catalogue, as_of.date(), work.as_of):
            log.info("run %s: agent release %s seen for the first time, on %s", work.run_id, release.release,
                     release.first_seen_on)
            self.store.record_release(release)
        per_subscription = Counter(r.subscription_id for r in rows)
        to_enable = Counter(r.subscription_id for r in rows if r.enable_chunk >= 0)
        self.store.put_subscriptions(
            replace(s, machines=per_subscription[s.subscription_id], to_enable=to_enable[s.subscription_id])
            for s in subscriptions
        )
        size = self.settings.enable_batch_size
        return DiscoveryResult(
            work.run_id, work.batch_index, len(rows),
            tuple(SubscriptionWork(sub, n, -(-n // size)) for sub, n in sorted(to_enable.items())), gate.state(),
            dropped=len(dropped),
        )

    def mark_not_swept(self, failure: BatchFailure) -> None:
        """The batch's subscriptions could not be read even with retries: say so on each of them."""
        reason = clip(f"not swept: Resource Graph could not be read: {failure.error}")
        log.error("run %s batch %d: %s", failure.run_id, failure.batch_index, reason)
        self.store.put_subscriptions(replace(s, in_scope=False, not_swept=True, skip_reason=reason)
                                     for s in self.store.subscriptions(failure.run_id, failure.batch_index)
                                     if s.in_scope)

    def _in_chunks(self, rows: list[MachineRecord]) -> list[MachineRecord]:
        """Number the machines to enable into chunks of ENABLE_BATCH_SIZE per subscription.

        Decided once, at discovery, and stored on the rows: each enabling activity then reads
        just its own chunk, whatever the size of the subscription.
        """
        position: Counter[str] = Counter()
        numbered = []
        for row in sorted(rows, key=lambda r: (r.subscription_id, r.row_key)):
            if row.action == Action.ENABLE_AUTO_UPGRADE and row.action_result == EnableResult.NOT_ATTEMPTED:
                row = replace(row, enable_chunk=position[row.subscription_id] // self.settings.enable_batch_size)
                position[row.subscription_id] += 1
            numbered.append(row)
        return numbered


def in_ring(row: MachineRecord, machine: MachineSnapshot, plan: RingPlan | None,
            policy: RingPolicy | None) -> MachineRecord:
    """The row with its staged-rollout ring; enabling deferred (nothing sent) while that ring is not open."""
    if plan is None or policy is None:
        return row
    ring = policy.ring_of(machine.tags, machine.subscription_id)
    ring = plan.last_ring if ring is None else ring
    row = replace(row, ring=ring)
    if row.action == Action.ENABLE_AUTO_UPGRADE and ring not in plan.open_rings:
        return replace(row, action_result=EnableResult.DEFERRED,
                       defer_reason=plan.waiting.get(str(ring), f"ring {ring} waits for the rings before it to open"
                                                                 " and pass their gates"))
    return row


def within_scope(machines: list[MachineSnapshot], subscriptions: set[str]) -> tuple[list[MachineSnapshot],
                                                                                   list[MachineSnapshot]]:
    """Rows of the batch's subscriptions, and the others (outside the scope, or on the deny list).

    A row counts by the subscription in its id, which is where a PATCH would go, and must agree
    with its subscriptionId column; a row whose id does not parse counts by the column (it is
    recorded and never acted on).
    """
    kept: list[MachineSnapshot] = []
    dropped: list[MachineSnapshot] = []
    for machine in machines:
        parsed = parse_machine_id(machine.id)
        column = machine.subscription_id.lower()
        inside = column in subscriptions and (parsed is None or parsed.subscription_id == column)
        (kept if inside else dropped).append(machine)
    return kept, dropped


def is_permanent(error: Exception) -> bool:
    """A refusal that asking again will not change."""
    if isinstance(error, GraphQueryError):
        return True
    status = getattr(error, "status_code", None)
    return isinstance(error, HttpResponseError) and isinstance(status, int) and 400 <= status < 500 \
        and status not in (408, 429)


def describe(error: Exception) -> str:
    """The error's first line (azure-core repeats code and message on the lines after it)."""
    lines = str(error).strip().splitlines()
    return clip(f"{type(error).__name__}: {lines[0] if lines else ''}", 1000)


def machine_row(run_id: str, machine: MachineSnapshot, policy: ClassificationPolicy, as_of: str) -> MachineRecord:
    """The machines-table row of one machine as discovery classified it."""
    classification = classify(machine, policy)
    auto = {True: "true", False: "false", None: "missing"}[machine.auto_upgrade]
    return MachineRecord(
        run_id=run_id, resource_id=machine.id, subscription_id=machine.subscription_id,
        resource_group=machine.resource_group, name=machine.name, os_type=machine.os_type,
        location=machine.location, connection_status=machine.status,
        agent_version_seen=machine.agent_version, auto_upgrade_before=auto,
        findings=classification.findings, action=classification.action,
        action_result=EnableResult.NOT_ATTEMPTED,
        last_attempt_status=machine.last_attempt_status,
        last_attempt_message=machine.last_attempt_message,
        last_attempt_time=machine.last_attempt_timestamp, updated_at=as_of,
    )
