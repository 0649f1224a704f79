"""Small typed messages that cross activity and orchestration boundaries.

Durable Functions persists every input and output in the orchestration history and
replays it, so messages carry ids and counts, never inventories: work lists live in
Table Storage and are found again by run id, batch index and chunk index.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar, get_type_hints

M = TypeVar("M", bound="Message")


class Message:
    """Explicit JSON conversion: `to_json()` gives plain JSON values, `from_json()` checks them."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls: type[M], data: Any) -> M:
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
        hints = get_type_hints(cls)
        values = {}
        for item in fields(cls):  # type: ignore[arg-type]
            if item.name not in data:
                continue
            value = data[item.name]
            hint = hints[item.name]
            if isinstance(value, list) and str(hint).startswith("tuple"):
                inner = getattr(hint, "__args__", (None,))[0]
                if isinstance(inner, type) and issubclass(inner, Message):
                    value = tuple(inner.from_json(v) for v in value)
                else:
                    value = tuple(value)
            values[item.name] = value
        return cls(**values)


@dataclass(frozen=True)
class SweepRequest(Message):
    """Input of the sweep orchestration; None means "use the app setting"."""

    run_id: str
    trigger: str                              # timer | http | cli
    subscriptions: tuple[str, ...] = ()
    dry_run: bool | None = None
    follow_up_window: str | None = None       # ISO 8601 duration
    poll_interval: str | None = None


@dataclass(frozen=True)
class RunPlan(Message):
    run_id: str
    dry_run: bool
    batch_count: int
    subscriptions_in_scope: int
    follow_up_window_s: int
    poll_interval_s: int


@dataclass(frozen=True)
class StartRun(Message):
    request: dict[str, Any]
    as_of: str


@dataclass(frozen=True)
class DiscoverBatch(Message):
    run_id: str
    batch_index: int
    as_of: str


@dataclass(frozen=True)
class SubscriptionWork(Message):
    subscription_id: str
    machines_to_enable: int
    chunks: int                   # enabling chunks, numbered 0..chunks-1 on the machine rows


@dataclass(frozen=True)
class DiscoveryResult(Message):
    run_id: str
    batch_index: int
    machines: int
    work: tuple[SubscriptionWork, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class EnableSubscription(Message):
    """Input of the per-subscription enabling sub-orchestration."""

    run_id: str
    subscription_id: str
    machines_to_enable: int
    chunks: int
    dry_run: bool
    as_of: str


@dataclass(frozen=True)
class EnableChunk(Message):
    run_id: str
    subscription_id: str
    chunk_index: int
    dry_run: bool
    as_of: str


@dataclass(frozen=True)
class Tally(Message):
    """Counts by name (enable results, or follow-up outcomes) plus what is still open."""

    counts: dict[str, int] = field(default_factory=dict)
    unsettled: int = 0


@dataclass(frozen=True)
class FollowUpState(Message):
    """Input of each execution of the follow-up orchestration (it continues as new)."""

    run_id: str
    batch_indices: tuple[int, ...]
    deadline: str                 # ISO 8601 UTC
    poll_interval_s: int
    polls_done: int = 0


@dataclass(frozen=True)
class CheckCohort(Message):
    run_id: str
    batch_index: int
    checked_at: str


@dataclass(frozen=True)
class PhaseEnd(Message):
    run_id: str
    as_of: str
    error: str = ""
