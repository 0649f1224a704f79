"""Step 2: read one batch of subscriptions from Resource Graph, classify, record.

Machines first, then (unless EXTENSION_UPGRADE_MODE is off) their extensions, with one
more paged query joined to the machines here; nothing is written until both were read.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from azure.core.exceptions import HttpResponseError

from arc_sweeper.extensions import ExtensionPolicy, ExtensionSnapshot, extension_row
from arc_sweeper.findings import ClassificationPolicy, classify
from arc_sweeper.fleet import FleetLedger
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.messages import BatchFailure, DiscoverBatch, DiscoveryResult, RingPlan, SubscriptionWork
from arc_sweeper.ports import ExtensionStore, FleetReader, MachineStore, ReleaseStore, RunStore, SubscriptionStore
from arc_sweeper.records import ExtensionRecord, MachineRecord
from arc_sweeper.releases import catalogue_of, unlisted_releases
from arc_sweeper.resource_graph import GraphQueryError
from arc_sweeper.rings import RingPolicy
from arc_sweeper.settings import Settings
from arc_sweeper.text import clip
from arc_sweeper.throttling import BudgetExhausted, GraphQuota, QuotaGate
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.vocabulary import Action, EnableResult

log = logging.getLogger(__name__)


Row = TypeVar("Row", MachineRecord, ExtensionRecord)


class DiscoveryStore(RunStore, SubscriptionStore, MachineStore, ExtensionStore, ReleaseStore, Protocol):
    """What discovery reads (the run's catalogue) and writes: subscription, machine and extension rows, new releases."""


@dataclass(frozen=True)
class DiscoveryStep:
    settings: Settings
    store: DiscoveryStore
    graph: FleetReader
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
        ids = [s.subscription_id for s in subscriptions]
        try:
            machines = list(self.graph.find_machines(ids, gate))
        except Exception as error:
            if not is_permanent(error):
                raise
            self.mark_not_swept(BatchFailure(work.run_id, work.batch_index, describe(error), work.as_of))
            return DiscoveryResult(work.run_id, work.batch_index, 0, (), gate.state())
        extension_policy = self.settings.extension_policy
        extensions, extension_error = self._read_extensions(ids, gate) if extension_policy else ([], "")
        machines, dropped = within_scope(machines, set(ids))
        if dropped:
            log.warning(
                "run %s batch %d: %d Resource Graph rows outside the batch's subscriptions dropped, e.g. %r",
                work.run_id,
                work.batch_index,
                len(dropped),
                dropped[0].id[:200],
            )
        staged = self.settings.ring_policy if work.rings is not None else None
        rows = self._in_chunks(
            [in_ring(machine_row(work.run_id, m, policy, work.as_of), m, work.rings, staged) for m in machines]
        )
        extension_rows = self._in_chunks(
            extensions_of(rows, extensions, extension_policy, work.as_of, work.rings) if extension_policy else []
        )
        self.store.put_machines(rows)
        self.store.put_extensions(extension_rows)
        self.fleet.record_discovery(rows, work.as_of)
        for release in unlisted_releases(rows, catalogue, as_of.date(), work.as_of):
            log.info(
                "run %s: agent release %s seen for the first time, on %s",
                work.run_id,
                release.release,
                release.first_seen_on,
            )
            self.store.record_release(release)
        per_subscription = Counter(r.subscription_id for r in rows)
        to_enable = Counter(r.subscription_id for r in rows if r.enable_chunk >= 0)
        extensions_per_subscription = Counter(r.subscription_id for r in extension_rows)
        extensions_to_enable = Counter(r.subscription_id for r in extension_rows if r.enable_chunk >= 0)
        self.store.put_subscriptions(
            replace(
                s,
                machines=per_subscription[s.subscription_id],
                to_enable=to_enable[s.subscription_id],
                extensions=extensions_per_subscription[s.subscription_id],
                extensions_to_enable=extensions_to_enable[s.subscription_id],
            )
            for s in subscriptions
        )
        size = self.settings.enable_batch_size
        return DiscoveryResult(
            work.run_id,
            work.batch_index,
            len(rows),
            tuple(
                SubscriptionWork(sub, to_enable[sub], -(-to_enable[sub] // size), -(-extensions_to_enable[sub] // size))
                for sub in sorted(to_enable | extensions_to_enable)
            ),
            gate.state(),
            dropped=len(dropped),
            extensions=len(extension_rows),
            extension_error=extension_error,
        )

    def _read_extensions(self, subscription_ids: list[str], gate: QuotaGate) -> tuple[list[ExtensionSnapshot], str]:
        """The batch's extensions; a refusal a retry cannot change, or a quota the machines' query just
        spent, costs the extensions only (the machines are recorded), and is said."""
        try:
            return list(self.graph.find_extensions(subscription_ids, gate)), ""
        except Exception as error:
            if not (is_permanent(error) or isinstance(error, BudgetExhausted)):
                raise
            return [], clip(f"extensions not read: {describe(error)}", 500)

    def mark_not_swept(self, failure: BatchFailure) -> None:
        """The batch's subscriptions could not be read even with retries: say so on each of them."""
        reason = clip(f"not swept: Resource Graph could not be read: {failure.error}")
        log.error("run %s batch %d: %s", failure.run_id, failure.batch_index, reason)
        self.store.put_subscriptions(
            replace(s, in_scope=False, not_swept=True, skip_reason=reason)
            for s in self.store.subscriptions(failure.run_id, failure.batch_index)
            if s.in_scope
        )

    def _in_chunks(self, rows: list[Row]) -> list[Row]:
        """Number the machines (or extensions) to enable into chunks of ENABLE_BATCH_SIZE per subscription.

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


def in_ring(
    row: MachineRecord, machine: MachineSnapshot, plan: RingPlan | None, policy: RingPolicy | None
) -> MachineRecord:
    """The row with its staged-rollout ring; enabling deferred (nothing sent) while that ring is not open."""
    if plan is None or policy is None:
        return row
    ring = policy.ring_of(machine.tags, machine.subscription_id)
    row = replace(row, ring=plan.last_ring if ring is None else ring)
    held = ring_held(row, plan)
    if row.action == Action.ENABLE_AUTO_UPGRADE and held:
        return replace(row, action_result=EnableResult.DEFERRED, defer_reason=held)
    return row


def ring_held(row: MachineRecord, plan: RingPlan | None) -> str:
    """Why the machine's ring may not be changed in this run; empty when it may."""
    if plan is None or row.ring in plan.open_rings:
        return ""
    return plan.waiting.get(
        str(row.ring), f"ring {row.ring} waits for the rings before it to open and pass their gates"
    )


def extensions_of(
    rows: list[MachineRecord],
    extensions: list[ExtensionSnapshot],
    policy: ExtensionPolicy,
    as_of: str,
    plan: RingPlan | None,
) -> list[ExtensionRecord]:
    """Each extension joined to its machine's row by the machine id in its own id.

    An extension whose machine is not among the rows (outside the batch, or created between
    the two queries) is left for the next run: only the machine's row says what may be done.
    """
    by_id = {row.resource_id.lower(): row for row in rows}
    joined = []
    for ext in extensions:
        machine = by_id.get(ext.machine_id)
        if machine is not None:
            joined.append(extension_row(ext, machine, policy, as_of, ring_held(machine, plan)))
    if len(joined) < len(extensions):
        log.info("%d extensions of machines not in this batch left for the next run", len(extensions) - len(joined))
    return joined


def within_scope(
    machines: list[MachineSnapshot], subscriptions: set[str]
) -> tuple[list[MachineSnapshot], list[MachineSnapshot]]:
    """Rows of the batch's subscriptions (by their subscriptionId column), and the others
    (outside the scope, or on the deny list), which are never recorded.

    A kept row whose id does not parse, or names another subscription than its column, is
    recorded as `unrecognised_id` and never acted on (arc_sweeper.findings): the machine has a
    row that says so, and no request is ever built from the id.
    """
    kept: list[MachineSnapshot] = []
    dropped: list[MachineSnapshot] = []
    for machine in machines:
        (kept if machine.subscription_id.lower() in subscriptions else dropped).append(machine)
    return kept, dropped


def is_permanent(error: Exception) -> bool:
    """A refusal that asking again will not change."""
    if isinstance(error, GraphQueryError):
        return True
    status = getattr(error, "status_code", None)
    return (
        isinstance(error, HttpResponseError)
        and isinstance(status, int)
        and 400 <= status < 500
        and status not in (408, 429)
    )


def describe(error: Exception) -> str:
    """The error's first line (azure-core repeats code and message on the lines after it)."""
    lines = str(error).strip().splitlines()
    return clip(f"{type(error).__name__}: {lines[0] if lines else ''}", 1000)


def machine_row(run_id: str, machine: MachineSnapshot, policy: ClassificationPolicy, as_of: str) -> MachineRecord:
    """The machines-table row of one machine as discovery classified it."""
    classification = classify(machine, policy)
    auto = {True: "true", False: "false", None: "missing"}[machine.auto_upgrade]
    return MachineRecord(
        run_id=run_id,
        resource_id=machine.id,
        subscription_id=machine.subscription_id,
        resource_group=machine.resource_group,
        name=machine.name,
        os_type=machine.os_type,
        location=machine.location,
        connection_status=machine.status,
        agent_version_seen=machine.agent_version,
        auto_upgrade_before=auto,
        findings=classification.findings,
        action=classification.action,
        action_result=EnableResult.NOT_ATTEMPTED,
        last_attempt_status=machine.last_attempt_status,
        last_attempt_message=machine.last_attempt_message,
        last_attempt_time=machine.last_attempt_timestamp,
        updated_at=as_of,
    )
