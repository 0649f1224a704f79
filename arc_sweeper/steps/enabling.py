"""Step 3: PATCH one chunk of one subscription's machines (or their extensions), each exactly once.

Exactly once, by construction, whatever storage, the network or a retry does:

1. Before a machine's PATCH its intent is recorded (`sending`); right after, its result.
   Intents are written a few at a time, in one transaction of the chunk's partition.
2. When recording fails, no new PATCH is sent: the PATCHes in flight finish, and the
   activity fails so that the orchestration retries it.
3. A retried call decides per machine from what is recorded: a result is final; a machine
   left `sending` (its answer was lost, or never recorded) is read from ARM first and
   PATCHed only if automatic upgrade is still off.

Writes are paced by the subscription's budget (arc_sweeper.throttling.WriteGate): as many
PATCHes in flight as the budget allows, none while a 429's Retry-After runs. A call stops
starting PATCHes (and waiting for the budget) after ENABLE_TIME_BUDGET, well inside the Functions timeout, and says how
many machines remain, so the orchestration continues the chunk in a new call.

Machine extensions (EXTENSION_UPGRADE_MODE=enable) go through the very same code: a chunk
names its target, and `Targets` says where that target's rows live and how ARM reads and
writes one of them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

from arc_sweeper.fleet import FleetLedger
from arc_sweeper.messages import ChunkFailure, ChunkResult, EnableChunk
from arc_sweeper.ports import ArmError, ExtensionStore, FleetWriter, MachineStore, PatchOutcome, ScopeLeases
from arc_sweeper.records import ExtensionRecord, MachineRecord
from arc_sweeper.settings import Settings
from arc_sweeper.text import clip
from arc_sweeper.throttling import Gate, WriteBudget, WriteGate
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.vocabulary import EnableResult, Outcome, Target

log = logging.getLogger(__name__)

OPEN = frozenset({EnableResult.NOT_ATTEMPTED, EnableResult.SENDING})
"""Results that a later call of the chunk still has to decide."""


class NotAllSent(Exception):
    """Some PATCHes could not be sent (no connection, no budget): the activity's retry sends them."""


Row = TypeVar("Row", MachineRecord, ExtensionRecord)


@dataclass(frozen=True)
class Targets(Generic[Row]):
    """One kind of thing enabling PATCHes: where its rows live, how ARM writes and reads one."""

    rows: Callable[[EnableChunk], list[Row]]
    put: Callable[[Iterable[Row]], None]
    patch: Callable[[str, Gate], PatchOutcome]
    is_enabled: Callable[[str], bool | None]
    record_results: Callable[[str, list[Row], str], None]  # tell the fleet ledger
    on_enabled: Mapping[str, Any] = field(default_factory=dict)  # what else an enabled row starts with


class EnablingStore(MachineStore, ExtensionStore, Protocol):
    """The machine and extension rows enabling decides."""


@dataclass(frozen=True)
class EnablingStep:
    settings: Settings
    store: EnablingStore
    arm: FleetWriter
    fleet: FleetLedger
    leases: ScopeLeases
    monotonic: Callable[[], float] = time.monotonic

    def machines(self) -> Targets[MachineRecord]:
        return Targets(
            rows=lambda work: self.store.machines(work.run_id, work.subscription_id, enable_chunk=work.chunk_index),
            put=self.store.put_machines,
            patch=self.arm.enable_automatic_upgrade,
            is_enabled=self.arm.automatic_upgrade_enabled,
            record_results=self.fleet.record_enable_results,
            on_enabled={"outcome": Outcome.PENDING, "outcome_detail": "waiting for the agent"},
        )

    def extensions(self) -> Targets[ExtensionRecord]:
        """The fleet hears of extensions when enabling closes (arc_sweeper.steps.closing)."""
        return Targets(
            rows=lambda work: self.store.extensions(work.run_id, work.subscription_id, enable_chunk=work.chunk_index),
            put=self.store.put_extensions,
            patch=self.arm.enable_extension_upgrade,
            is_enabled=self.arm.extension_upgrade_enabled,
            record_results=lambda subscription, rows, as_of: None,
        )

    def enable_chunk(self, work: EnableChunk) -> ChunkResult:
        """PATCH the chunk's open rows; while this run still holds the enabling lease of its scope.

        The lease is renewed first: a sweep stalled past ENABLING_LEASE whose scope another sweep
        has taken meanwhile sends nothing more, and its open rows say why (that sweep does them).
        """
        if work.target == Target.EXTENSIONS:
            return self._leased(work, self.extensions())
        return self._leased(work, self.machines())

    def _leased(self, work: EnableChunk, targets: Targets[Row]) -> ChunkResult:
        holder = None if work.dry_run else self._renewed_lease(work)
        if holder is not None:
            reason = f"enabling lease lost: sweep {holder} took over an overlapping scope; nothing more is sent"
            log.error("run %s subscription %s: %s", work.run_id, work.subscription_id, reason)
            failure = ChunkFailure(work.run_id, work.subscription_id, work.chunk_index, reason, work.as_of, work.target)
            return self._abandon(failure, targets)
        return self._enable(work, targets)

    def _renewed_lease(self, work: EnableChunk) -> str | None:
        now = parse_timestamp(work.as_of)
        assert now is not None, "as_of comes from the orchestration clock"
        return self.leases.renew(work.run_id, now, self.settings.enabling_lease)

    def abandon_chunk(self, failure: ChunkFailure) -> ChunkResult:
        """The chunk's open rows are failed with the reason: the run goes on and says what failed."""
        if failure.target == Target.EXTENSIONS:
            return self._abandon(failure, self.extensions())
        return self._abandon(failure, self.machines())

    def _enable(self, work: EnableChunk, targets: Targets[Row]) -> ChunkResult:
        rows = {r.row_key: r for r in targets.rows(work)}
        stop_at = self.monotonic() + self.settings.enable_time_budget.total_seconds()
        gate = WriteGate(
            work.budget or WriteBudget(),
            max_wait_s=self.settings.max_retry_wait.total_seconds(),
            max_concurrency=self.settings.max_parallel_writes_per_subscription,
            out_of_time=lambda: self.monotonic() >= stop_at,
        )
        if work.dry_run:
            decided = [
                replace(r, action_result=EnableResult.DRY_RUN, updated_at=work.as_of)
                for r in rows.values()
                if r.action_result in OPEN
            ]
            targets.put(decided)
            rows.update((r.row_key, r) for r in decided)
        else:
            rows.update(
                (r.row_key, r)
                for r in self._reconcile(
                    targets, [r for r in rows.values() if r.action_result == EnableResult.SENDING], work
                )
            )
            sender = _Sender(self, targets, gate, work, stop_at)
            rows.update(
                (r.row_key, r)
                for r in sender.send([r for r in rows.values() if r.action_result == EnableResult.NOT_ATTEMPTED])
            )
            rows.update(
                (r.row_key, r)
                for r in self._reconcile(
                    targets, [r for r in rows.values() if r.action_result == EnableResult.SENDING], work
                )
            )
            if sender.error is not None:
                raise sender.error
            still_open = Counter(
                f"{r.arm_error_code}: {r.arm_error_message[:120]}" if r.arm_error_code else str(r.action_result)
                for r in rows.values()
                if r.action_result in OPEN
            )
            if still_open and not sender.out_of_time:
                raise NotAllSent(
                    f"{sum(still_open.values())} {work.target} still to do after a failed attempt ("
                    + ", ".join(f"{n} x {why}" for why, n in still_open.most_common())
                    + "); the retry decides them"
                )
        results = list(rows.values())
        _log_refusals(
            work, [(r.arm_http_status, r.arm_error_code) for r in results if r.action_result == EnableResult.FAILED]
        )
        targets.record_results(work.subscription_id, [r for r in results if r.action_result not in OPEN], work.as_of)
        return ChunkResult(
            dict(Counter(str(r.action_result) for r in results)),
            remaining=sum(1 for r in results if r.action_result in OPEN),
            budget=gate.state(),
        )

    @staticmethod
    def _abandon(failure: ChunkFailure, targets: Targets[Row]) -> ChunkResult:
        rows = targets.rows(
            EnableChunk(
                failure.run_id,
                failure.subscription_id,
                failure.chunk_index,
                False,
                failure.as_of,
                target=failure.target,
            )
        )
        closed = [
            replace(
                r,
                action_result=EnableResult.FAILED,
                arm_error_code="OutcomeUnknown" if r.action_result == EnableResult.SENDING else "NotSent",
                arm_error_message=clip(f"enabling given up: {failure.error}"),
                updated_at=failure.as_of,
            )
            for r in rows
            if r.action_result in OPEN
        ]
        targets.put(closed)
        targets.record_results(failure.subscription_id, closed, failure.as_of)
        done = {r.row_key: r for r in closed}
        return ChunkResult(dict(Counter(str(done.get(r.row_key, r).action_result) for r in rows)))

    @staticmethod
    def _reconcile(targets: Targets[Row], unknown: list[Row], work: EnableChunk) -> list[Row]:
        """Rows whose PATCH may have gone out: read each, decide from what ARM says now."""
        decided = []
        for row in unknown:
            try:
                enabled = targets.is_enabled(row.resource_id)
            except ArmError as error:
                if error.http_status == 404:
                    decided.append(
                        replace(
                            row,
                            action_result=EnableResult.FAILED,
                            arm_http_status=404,
                            arm_error_code=error.code,
                            arm_error_message=clip(error.message),
                            updated_at=work.as_of,
                        )
                    )
                continue  # still unknown: a later retry reads it again
            if enabled is True:
                decided.append(with_patch_outcome(row, PatchOutcome(True, 200), work.as_of, targets.on_enabled))
            else:
                decided.append(replace(row, action_result=EnableResult.NOT_ATTEMPTED, updated_at=work.as_of))
        targets.put(decided)
        return decided


class _Sender(Generic[Row]):
    """Keeps the budget's number of PATCHes in flight; records intents before and results after."""

    def __init__(
        self, step: EnablingStep, targets: Targets[Row], gate: WriteGate, work: EnableChunk, stop_at: float
    ) -> None:
        self.step, self.gate, self.work, self.stop_at = step, gate, work, stop_at
        self.targets: Targets[Row] = targets
        self.error: Exception | None = None

    @property
    def out_of_time(self) -> bool:
        """The call's time budget has run out: what is left goes to the next call, not to a retry. Read from
        the clock each time, because a PATCH waiting at the gate when it runs out comes back unsent."""
        return self.step.monotonic() >= self.stop_at

    def send(self, todo: list[Row]) -> list[Row]:
        """PATCH `todo`; the rows as recorded. Results are written with the next wave's intents, in one
        transaction of the chunk's partition, or alone when no wave goes and enough have gathered (or none
        is in flight): one write per PATCH paced on the refill, not two."""
        decided: list[Row] = []
        unrecorded: list[Row] = []
        in_flight: dict[Future[PatchOutcome], Row] = {}
        with ThreadPoolExecutor(max_workers=self.step.settings.max_parallel_writes_per_subscription) as pool:
            while True:
                wave = self._wave(todo, len(in_flight))
                todo = todo[len(wave) :]
                if wave or (unrecorded and (len(unrecorded) >= max(8, self.gate.concurrency) or not in_flight)):
                    intents: list[Row] = [
                        replace(r, action_result=EnableResult.SENDING, updated_at=self.work.as_of) for r in wave
                    ]
                    if self._record(unrecorded + intents):
                        decided.extend(unrecorded)
                        decided.extend(intents)
                        for row in intents:
                            in_flight[pool.submit(self.targets.patch, row.resource_id, self.gate)] = row
                    unrecorded = []
                if not in_flight:
                    return decided
                finished, _ = wait(in_flight, timeout=1.0, return_when=FIRST_COMPLETED)
                for future in finished:
                    unrecorded.append(self._result(in_flight.pop(future), _outcome_of(future)))

    def _wave(self, todo: list[Row], in_flight: int) -> list[Row]:
        """The rows to PATCH now: as many as the budget has room for, none after an error or out of time."""
        free = self.gate.room() - in_flight
        if free <= 0 or self.error is not None or self.out_of_time:
            return []
        return todo[:free]

    def _result(self, row: Row, outcome: PatchOutcome) -> Row:
        if outcome.http_status is None and not outcome.sent:
            return replace(
                row,
                action_result=EnableResult.NOT_ATTEMPTED,
                arm_error_code=outcome.error_code,
                arm_error_message=clip(outcome.error_message),
                updated_at=self.work.as_of,
            )
        if outcome.unknown:
            return replace(row, arm_error_code=outcome.error_code, arm_error_message=clip(outcome.error_message))
        return with_patch_outcome(row, outcome, self.work.as_of, self.targets.on_enabled)

    def _record(self, rows: Iterable[Row]) -> bool:
        """Write rows; on failure remember the error and send nothing more."""
        if self.error is not None:
            return False
        try:
            self.targets.put(rows)
            return True
        except Exception as error:  # noqa: BLE001 - any storage failure stops the sending
            log.error(
                "run %s subscription %s chunk %d: recording failed, no further PATCH is sent: %s: %s",
                self.work.run_id,
                self.work.subscription_id,
                self.work.chunk_index,
                type(error).__name__,
                error,
            )
            self.error = error
            return False


def _outcome_of(future: Future[PatchOutcome]) -> PatchOutcome:
    """The PATCH's outcome; an exception out of the client leaves it unknown (it may have been sent)."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - decided by reading the machine, never by guessing
        return PatchOutcome(False, None, type(error).__name__, clip(str(error), 300))


def with_patch_outcome(row: Row, outcome: PatchOutcome, as_of: str, on_enabled: Mapping[str, Any]) -> Row:
    if outcome.succeeded:
        return replace(
            row,
            action_result=EnableResult.ENABLED,
            arm_http_status=outcome.http_status or 0,
            arm_error_code="",
            arm_error_message="",
            enabled_at=as_of,
            updated_at=as_of,
            **on_enabled,
        )
    return replace(
        row,
        action_result=EnableResult.FAILED,
        arm_http_status=outcome.http_status or 0,
        arm_error_code=outcome.error_code,
        arm_error_message=clip(outcome.error_message),
        updated_at=as_of,
    )


def _log_refusals(work: EnableChunk, refusals: list[tuple[int, str]]) -> None:
    refused = Counter(f"{status} {code}" for status, code in refusals)
    if refused:
        log.warning(
            "run %s subscription %s %s chunk %d: %d PATCHes refused (%s)",
            work.run_id,
            work.subscription_id,
            work.target,
            work.chunk_index,
            sum(refused.values()),
            ", ".join(f"{n} x {reason}" for reason, n in refused.most_common()),
        )
