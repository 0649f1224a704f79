"""Small typed messages that cross activity and orchestration boundaries.

Durable Functions persists every input and output in the orchestration history and
replays it, so messages carry ids and counts, never inventories: work lists live in
Table Storage and are found again by run id, batch index and chunk index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from arc_sweeper import serialization
from arc_sweeper.throttling import GraphQuota, WriteBudget
from arc_sweeper.vocabulary import Target, Trigger

M = TypeVar("M", bound="Message")


class Message:
    """Explicit JSON conversion through the one serializer (arc_sweeper.serialization)."""

    def to_json(self) -> dict[str, Any]:
        converted: dict[str, Any] = serialization.to_json(self)
        return converted

    @classmethod
    def from_json(cls: type[M], data: Any) -> M:
        return serialization.from_json(cls, data)


@dataclass(frozen=True)
class SweepRequest(Message):
    """Input of the sweep orchestration; None means "use the app setting"."""

    run_id: str
    trigger: Trigger
    subscriptions: tuple[str, ...] = ()
    dry_run: bool | None = None
    follow_up_window: str | None = None  # ISO 8601 duration
    poll_interval: str | None = None


@dataclass(frozen=True)
class RunPlan(Message):
    run_id: str
    dry_run: bool
    batch_count: int
    subscriptions_in_scope: int
    follow_up_window_s: int
    poll_interval_s: int
    staged: bool = False  # rings are configured: evaluate them before enabling


@dataclass(frozen=True)
class StartRun(Message):
    request: SweepRequest
    as_of: str


@dataclass(frozen=True)
class RingPlan(Message):
    """Which rings of the staged rollout may be enabled in this run, and why the others wait."""

    open_rings: tuple[int, ...]
    last_ring: int  # machines with no ring belong to it
    waiting: dict[str, str] = field(default_factory=dict)  # ring (as text) -> why it is not open


@dataclass(frozen=True)
class EvaluateRings(Message):
    run_id: str
    as_of: str


@dataclass(frozen=True)
class DiscoverBatch(Message):
    """One discovery call; `quota` is the identity's Resource Graph quota as the call before left it."""

    run_id: str
    batch_index: int
    as_of: str
    quota: GraphQuota | None = None
    rings: RingPlan | None = None  # None: no staged rollout, every ring is open


@dataclass(frozen=True)
class BatchFailure(Message):
    """A discovery batch that failed even with retries: its subscriptions are recorded as not swept."""

    run_id: str
    batch_index: int
    error: str
    as_of: str


@dataclass(frozen=True)
class SubscriptionWork(Message):
    """One per subscription with work: the one list that grows with a batch (299 must fit in 45 KB)."""

    subscription_id: str
    machines_to_enable: int
    chunks: int  # enabling chunks, numbered 0..chunks-1 on the machine rows
    extension_chunks: int = 0  # numbered 0..extension_chunks-1 on the extension rows


@dataclass(frozen=True)
class DiscoveryResult(Message):
    run_id: str
    batch_index: int
    machines: int
    work: tuple[SubscriptionWork, ...] = ()
    quota: GraphQuota | None = None
    dropped: int = 0  # rows outside the batch's subscriptions: never recorded, never acted on
    extensions: int = 0
    extension_error: str = ""  # why the batch's extensions could not be read (its machines were)


@dataclass(frozen=True)
class EnableSubscription(Message):
    """Input of the per-subscription enabling sub-orchestration."""

    run_id: str
    subscription_id: str
    machines_to_enable: int
    chunks: int
    dry_run: bool
    as_of: str
    extension_chunks: int = 0  # after the machines' chunks, on the same write budget


@dataclass(frozen=True)
class EnableChunk(Message):
    """One call of the enabling activity; `budget` is the subscription's, from the call before."""

    run_id: str
    subscription_id: str
    chunk_index: int
    dry_run: bool
    as_of: str
    budget: WriteBudget | None = None
    continuation: int = 0  # how many calls for this chunk came before (a time budget ran out)
    target: Target = Target.MACHINES


@dataclass(frozen=True)
class ChunkResult(Message):
    """Counts of the chunk's rows by enable result, what is still to do, and the budget left."""

    counts: dict[str, int]
    remaining: int = 0
    budget: WriteBudget | None = None


@dataclass(frozen=True)
class ChunkFailure(Message):
    """A chunk the enabling activity could not finish even with retries: its open rows are failed."""

    run_id: str
    subscription_id: str
    chunk_index: int
    error: str
    as_of: str
    target: Target = Target.MACHINES


@dataclass(frozen=True)
class Tally(Message):
    """Counts by name (enable results, or follow-up outcomes) plus what is still open; extensions' apart."""

    counts: dict[str, int] = field(default_factory=dict)
    unsettled: int = 0
    extension_counts: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def merged(tallies: list[Tally]) -> Tally:
        return Tally(
            _summed(t.counts for t in tallies),
            sum(t.unsettled for t in tallies),
            _summed(t.extension_counts for t in tallies),
        )


def _summed(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for each in counts:
        for name, count in each.items():
            total[name] = total.get(name, 0) + count
    return total


@dataclass(frozen=True)
class FollowUpState(Message):
    """Input of each execution of the follow-up orchestration (it continues as new)."""

    run_id: str
    batch_indices: tuple[int, ...]
    deadline: str  # ISO 8601 UTC
    poll_interval_s: int
    polls_done: int = 0


@dataclass(frozen=True)
class CheckCohort(Message):
    run_id: str
    batch_index: int
    checked_at: str
    quota: GraphQuota | None = None


@dataclass(frozen=True)
class CohortResult(Message):
    tally: Tally
    quota: GraphQuota | None = None


@dataclass(frozen=True)
class PhaseEnd(Message):
    run_id: str
    as_of: str
    error: str = ""
