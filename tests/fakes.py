"""In-memory stand-ins for the outside systems, implementing arc_sweeper.ports.

For unit tests of the steps: fast, no Azure, no Azurite. They keep what the real ones
keep (rows by key, PATCHes sent, alerts posted) so tests can assert on it. The
end-to-end suite runs the same steps against the simulator and Azurite.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from arc_sweeper.extensions import ExtensionSnapshot
from arc_sweeper.leases import overlaps
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.ports import ArmError, DeliveryResult, PatchOutcome, Subscription
from arc_sweeper.records import (
    ExtensionRecord,
    FleetRecord,
    MachineRecord,
    ObservedRelease,
    RingRecord,
    RunRecord,
    SubscriptionRecord,
)
from arc_sweeper.throttling import Gate
from arc_sweeper.vocabulary import DeliveryStatus, EnableResult, RunStatus


@dataclass
class InMemoryTables:
    """Every table of the product, as dictionaries keyed like the real tables."""

    runs: dict[str, RunRecord] = field(default_factory=dict)
    subscription_rows: dict[tuple[str, str], SubscriptionRecord] = field(default_factory=dict)
    machine_rows: dict[tuple[str, str], MachineRecord] = field(default_factory=dict)
    extension_rows: dict[tuple[str, str], ExtensionRecord] = field(default_factory=dict)
    fleet_rows: dict[tuple[str, str], FleetRecord] = field(default_factory=dict)
    release_rows: dict[str, ObservedRelease] = field(default_factory=dict)
    ring_rows: dict[int, RingRecord] = field(default_factory=dict)
    writes: int = 0

    def create_tables(self) -> None:
        pass

    def put_run(self, run: RunRecord) -> None:
        self.writes += 1
        self.runs[run.run_id] = run

    def get_run(self, run_id: str) -> RunRecord | None:
        return self.runs.get(run_id)

    def all_runs(self) -> list[RunRecord]:
        return list(self.runs.values())

    def runs_with_status(self, status: RunStatus) -> list[RunRecord]:
        return [run for run in self.runs.values() if run.status == status]

    def put_subscriptions(self, records: Iterable[SubscriptionRecord]) -> None:
        for record in records:
            self.writes += 1
            self.subscription_rows[(record.run_id, record.subscription_id)] = record

    def subscriptions(self, run_id: str, batch_index: int | None = None) -> list[SubscriptionRecord]:
        return [
            s
            for (run, _), s in sorted(self.subscription_rows.items())
            if run == run_id and (batch_index is None or s.batch_index == batch_index)
        ]

    def put_machines(self, records: Iterable[MachineRecord]) -> None:
        for record in records:
            self.writes += 1
            self.machine_rows[(record.partition_key, record.row_key)] = record

    def machines(
        self, run_id: str, subscription_id: str, *, enable_chunk: int | None = None, enabled_only: bool = False
    ) -> list[MachineRecord]:
        partition = MachineRecord(run_id, "", subscription_id, "", "").partition_key
        rows = [r for (p, _), r in sorted(self.machine_rows.items()) if p == partition]
        if enable_chunk is not None:
            rows = [r for r in rows if r.enable_chunk == enable_chunk]
        if enabled_only:
            rows = [r for r in rows if r.action_result == EnableResult.ENABLED]
        return rows

    def put_extensions(self, records: Iterable[ExtensionRecord]) -> None:
        for record in records:
            self.writes += 1
            self.extension_rows[(record.partition_key, record.row_key)] = record

    def extensions(
        self, run_id: str, subscription_id: str, *, enable_chunk: int | None = None, followed_only: bool = False
    ) -> list[ExtensionRecord]:
        partition = MachineRecord(run_id, "", subscription_id, "", "").partition_key
        return [
            r
            for (p, _), r in sorted(self.extension_rows.items())
            if p == partition
            and (enable_chunk is None or r.enable_chunk == enable_chunk)
            and (r.followed or not followed_only)
        ]

    def extension_versions(self, run_id: str, subscription_id: str) -> list[tuple[str, str, str]]:
        return [(r.publisher, r.extension_type, r.version_seen) for r in self.extensions(run_id, subscription_id)]

    def all_machines(
        self, run_id: str, subscriptions: list[SubscriptionRecord] | None = None
    ) -> Iterator[MachineRecord]:
        for s in self.subscriptions(run_id) if subscriptions is None else subscriptions:
            if s.in_scope:
                yield from self.machines(run_id, s.subscription_id)

    def rings(self) -> dict[int, RingRecord]:
        return dict(self.ring_rows)

    def put_rings(self, records: Iterable[RingRecord]) -> None:
        for record in records:
            self.writes += 1
            self.ring_rows[record.ring] = record

    def fleet_everywhere(self) -> Iterator[FleetRecord]:
        return iter(list(self.fleet_rows.values()))

    def observed_releases(self) -> list[ObservedRelease]:
        return list(self.release_rows.values())

    def record_release(self, release: ObservedRelease) -> None:
        self.release_rows.setdefault(release.release, release)

    def fleet(self, subscription_id: str) -> dict[str, FleetRecord]:
        return {key: r for (sub, key), r in self.fleet_rows.items() if sub == subscription_id.lower()}

    def put_fleet(self, records: Iterable[FleetRecord]) -> None:
        for record in records:
            self.writes += 1
            self.fleet_rows[(record.subscription_id.lower(), record.row_key)] = record

    def merge_fleet(self, subscription_id: str, changes: Mapping[str, Mapping[str, Any]]) -> None:
        for key, columns in changes.items():
            before = self.fleet_rows.get((subscription_id.lower(), key))
            if before is not None:
                self.writes += 1
                self.fleet_rows[(subscription_id.lower(), key)] = replace(before, **columns)


@dataclass
class InMemoryLeases:
    """The enabling lease with the same rules as arc_sweeper.leases, without the table."""

    holders: dict[str, tuple[tuple[str, ...], datetime]] = field(default_factory=dict)

    def acquire(
        self, run_id: str, scope: Collection[str], now: datetime, ttl: timedelta, evict: Iterable[str] = ()
    ) -> str | None:
        gone = set(evict)
        for holder, (their_scope, until) in self.holders.items():
            if holder != run_id and holder not in gone and until > now and overlaps(scope, their_scope):
                return holder
        self.holders[run_id] = (tuple(scope), now + ttl)
        return None

    def release(self, run_id: str) -> None:
        self.holders.pop(run_id, None)

    def renew(self, run_id: str, now: datetime, ttl: timedelta) -> str | None:
        scope = self.holders[run_id][0] if run_id in self.holders else ()
        return self.acquire(run_id, scope, now, ttl)

    def holds(self, run_id: str, now: datetime) -> bool:
        return run_id in self.holders and self.holders[run_id][1] > now


@dataclass
class FakeDirectory:
    """Subscriptions the identity can see; a GUID in `unreadable` answers 403."""

    known: list[Subscription] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)

    def list_subscriptions(self) -> Iterator[Subscription]:
        return iter([s for s in self.known if s.subscription_id not in self.unreadable])

    def get_subscription(self, subscription_id: str) -> Subscription:
        found = next((s for s in self.known if s.subscription_id == subscription_id), None)
        if subscription_id in self.unreadable:
            raise ArmError(403, "AuthorizationFailed", "no read access")
        if found is None:
            raise ArmError(404, "SubscriptionNotFound", f"{subscription_id} not found")
        return found


@dataclass
class FakeGraph:
    """Resource Graph over a list of snapshots; `fail` makes the next queries raise."""

    machines: list[MachineSnapshot] = field(default_factory=list)
    extensions: list[ExtensionSnapshot] = field(default_factory=list)
    fail: Exception | None = None
    fail_extensions: Exception | None = None
    queries: int = 0

    def find_machines(self, subscription_ids: Iterable[str], gate: Gate | None = None) -> Iterator[MachineSnapshot]:
        self.queries += 1
        if self.fail is not None:
            raise self.fail
        wanted = set(subscription_ids)
        return iter(sorted((m for m in self.machines if m.subscription_id in wanted), key=lambda m: m.id))

    def find_extensions(self, subscription_ids: Iterable[str], gate: Gate | None = None) -> Iterator[ExtensionSnapshot]:
        self.queries += 1
        if self.fail_extensions is not None:
            raise self.fail_extensions
        wanted = set(subscription_ids)
        return iter(sorted((e for e in self.extensions if e.subscription_id in wanted), key=lambda e: e.id))


@dataclass
class FakeArm:
    """Records every PATCH and read; `answer` decides what ARM says to each PATCH (default: 200).

    A successful answer turns the machine's flag on, as ARM does; an answer with no status and
    `sent` (a lost answer) turns it on too when `lost_answers_applied`, like a PATCH that reached
    ARM before the connection dropped.
    """

    answer: Callable[[str], PatchOutcome] = lambda machine_id: PatchOutcome(True, 200)
    lost_answers_applied: bool = True
    sent: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    enabled: set[str] = field(default_factory=set)

    def enable_automatic_upgrade(self, machine_id: str, gate: Gate | None = None) -> PatchOutcome:
        self.sent.append(machine_id)
        outcome = self.answer(machine_id)
        if outcome.succeeded or (outcome.unknown and self.lost_answers_applied):
            self.enabled.add(machine_id)
        return outcome

    def automatic_upgrade_enabled(self, machine_id: str) -> bool | None:
        self.reads.append(machine_id)
        return True if machine_id in self.enabled else None

    # An extension is written and read like a machine: its id is what is recorded.
    enable_extension_upgrade = enable_automatic_upgrade
    extension_upgrade_enabled = automatic_upgrade_enabled


@dataclass
class FakeAlerts:
    payloads: list[dict[str, Any]] = field(default_factory=list)

    def deliver(self, payload: dict[str, Any]) -> DeliveryResult:
        self.payloads.append(payload)
        return DeliveryResult(True, DeliveryStatus.DELIVERED, 202, 1, "HTTP 202 from https://fake")
