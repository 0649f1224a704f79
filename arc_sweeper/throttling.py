"""Azure's budgets, kept on our side: ARM writes per subscription, Resource Graph queries per identity.

ARM grants writes per subscription (and principal) from a token bucket, documented as 200
at once then 10 per second (reference §9), and says what is left in
`x-ms-ratelimit-remaining-subscription-writes`. Resource Graph allows about 15 queries per
5 seconds per identity and says what is left in `x-ms-user-quota-remaining` /
`x-ms-user-quota-resets-after` (§8.4). The sweep is fastest when it spends exactly these
budgets and draws no 429, so every request to a budgeted service passes a gate first:

- :class:`WriteGate` paces one subscription's PATCHes: it waits for a token, pauses the
  whole subscription (not only the request that drew it) for a 429's `Retry-After`, and
  adapts how many PATCHes may be in flight (grow while answers are clean, halve on 429).
- :class:`QuotaGate` waits out an exhausted Resource Graph quota before the next query.

Their state is small and serializable (:class:`WriteBudget`, :class:`GraphQuota`), so the
orchestration hands it from one activity to the next: the budget of a subscription travels
with its enabling chunks and the quota with the discovery batches, which keeps one budget
per subscription and one quota for the whole app, on any number of Functions instances.
:class:`ThrottlingPolicy` is the azure-core pipeline policy that applies a gate to a request.

Every wait is bounded: a gate that would wait past its limit raises :class:`BudgetExhausted`,
which the caller records as a failure of that call rather than hanging.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from azure.core.rest import HttpRequest, HttpResponse

ARM_WRITE_BUCKET = 200
"""Documented ARM write bucket per subscription and principal (reference §9): a first guess only."""
FIRST_REFILL_GUESS_PER_S = 0.1
"""Deliberately low (the documentation says 10/s). A refill we underestimate costs little:
ARM keeps the tokens, its header shows them and they are spent at once. One we overestimate
costs a 429. Evidence from the header raises it (see WriteGate)."""
MIN_REFILL_PER_S = 0.01
MIN_EVIDENCE_S = 5.0
"""The refill is measured over at least this long, so that timing noise hardly matters."""
GRAPH_QUOTA = 15
GRAPH_WINDOW_S = 5.0
MAX_CONCURRENCY = 64
REMAINING_WRITES = "x-ms-ratelimit-remaining-subscription-writes"

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class BudgetExhausted(Exception):
    """Waiting for the budget would take longer than allowed; the call is not sent."""


class Gate(Protocol):
    """Paces the requests to one budget. `before_send` returns a ticket (the request's place in
    send order) that its answer, or its failure to get one, hands back."""

    def before_send(self) -> int: ...

    def after_response(self, ticket: int, status: int, headers: Mapping[str, str]) -> None: ...

    def after_error(self, ticket: int) -> None: ...


@dataclass(frozen=True)
class WriteBudget:
    """One subscription's ARM write budget as ARM last reported it, at wall-clock time `as_of` (epoch seconds).

    `tokens` is what ARM said was left; `capacity` the most it has said plus one; `refill_per_s`
    a cautious estimate of the refill. The `evidence_*` fields are the window the refill is
    measured over: what ARM reported at its start and how many writes it granted since.
    """

    tokens: float = ARM_WRITE_BUCKET
    capacity: float = ARM_WRITE_BUCKET
    refill_per_s: float = FIRST_REFILL_GUESS_PER_S
    concurrency: int = 4
    paused_until: float = 0.0
    as_of: float = 0.0
    throttled: int = 0  # 429s drawn so far
    early: int = 0  # requests sent before a Retry-After had passed (should stay 0)
    reported: bool = False  # tokens and capacity come from ARM, not from the documentation
    evidence_at: float = 0.0  # 0: no window yet
    evidence_tokens: float = 0.0
    evidence_granted: int = 0


@dataclass(frozen=True)
class GraphQuota:
    """The identity's Resource Graph quota as last reported, at wall-clock time `as_of`."""

    remaining: int = GRAPH_QUOTA
    resets_at: float = 0.0
    as_of: float = 0.0


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds a server asked us to wait (`retry-after-ms`, or `Retry-After` in seconds or as a date)."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class WriteGate:
    """Thread-safe pacing of one subscription's PATCHes, shared by every worker of a chunk.

    A PATCH goes out only for a token ARM is known to hold: one it reported in
    `x-ms-ratelimit-remaining-subscription-writes` and no PATCH in flight has spoken for yet,
    with one token to spare when another PATCH is in flight (answers can overtake each other,
    so the latest report may be one behind). Only when none is left may a single PATCH go on
    the estimated refill; it is alone in flight, so if ARM answers 429 no other request of the
    subscription is already on its way to arrive before the Retry-After has passed.

    The refill is estimated from below: over a window of at least MIN_EVIDENCE_S, ARM's
    bucket gained at least (reported now - reported then - 1 + writes granted meanwhile)
    tokens, whether or not it was full at times. A 429 halves the estimate and pauses the
    whole subscription for its Retry-After.

    Until ARM has reported the bucket once, PATCHes go one at a time: the documented 200 is a
    guess, and a subscription whose bucket is smaller (or spent by another tool of the same
    principal) would otherwise answer the first few at once with 429s. The first answer's
    header tells the truth; ARM sends it with every write (a subscription whose answers never
    carry it stays one at a time).

    Answers can come back in any order, and a busy worker may read one long after it arrived:
    a report is believed only if its request was sent after the one whose report is believed
    now, because ARM counted that one later and its figure is the fresher.
    """

    def __init__(
        self,
        budget: WriteBudget,
        *,
        max_wait_s: float,
        max_concurrency: int = MAX_CONCURRENCY,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        out_of_time: Callable[[], bool] = lambda: False,
    ) -> None:
        self._clock, self._sleep, self._max_wait_s = clock, sleep, max_wait_s
        self._out_of_time = out_of_time
        self._max_concurrency = max_concurrency
        self._lock = threading.Lock()
        self._budget = budget if budget.as_of else replace(budget, as_of=clock())
        self._in_flight = 0
        self._clean = 0
        self._sent = 0  # tickets handed out
        self._believed = -1  # the ticket whose report `tokens` comes from

    @property
    def concurrency(self) -> int:
        with self._lock:
            return self._budget.concurrency

    def state(self) -> WriteBudget:
        with self._lock:
            return self._budget

    def _estimated(self, now: float) -> float:
        """Tokens ARM holds now if it refills at our estimate, before the PATCHes in flight take theirs."""
        b = self._budget
        return min(b.capacity, b.tokens + max(0.0, now - b.as_of) * b.refill_per_s)

    def before_send(self) -> int:
        """Take a token, waiting (bounded) while the subscription is paused or has none to spare."""
        give_up_at = self._clock() + self._max_wait_s
        while True:
            with self._lock:
                now = self._clock()
                b = self._budget
                spare = self._estimated(now) - self._in_flight
                if (
                    now >= b.paused_until
                    and (b.reported or self._in_flight == 0)
                    and (
                        b.tokens - self._in_flight >= 1.0 + (self._in_flight > 0)
                        or (spare >= 1.0 and self._in_flight == 0)
                    )
                ):
                    self._in_flight += 1
                    self._sent += 1
                    return self._sent
                wait = max(b.paused_until - now, 0.0 if self._in_flight else (1.0 - spare) / b.refill_per_s, 0.01)
            if now + wait > give_up_at:
                raise BudgetExhausted(f"ARM write budget: would wait {wait:.0f}s, more than {self._max_wait_s:.0f}s")
            if self._out_of_time():
                raise BudgetExhausted(
                    "ARM write budget: the call's time budget ran out while waiting; the next call sends it"
                )
            self._sleep(min(wait, 0.05 if self._in_flight else 1.0))

    def after_error(self, ticket: int) -> None:
        """No answer (the connection failed): ARM may have taken the token, so count it taken."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._budget = replace(self._budget, tokens=max(0.0, self._budget.tokens - 1.0))

    def after_response(self, ticket: int, status: int, headers: Mapping[str, str]) -> None:
        with self._lock:
            now = self._clock()
            self._in_flight = max(0, self._in_flight - 1)
            b = self._budget
            if now < b.paused_until:
                b = replace(b, early=b.early + 1)
            if status == 429:
                wait = retry_after_seconds(headers, now)
                b = replace(
                    b,
                    tokens=0.0,
                    as_of=now,
                    paused_until=max(b.paused_until, now + (wait or 1.0)),
                    throttled=b.throttled + 1,
                    concurrency=max(1, b.concurrency // 2),
                    refill_per_s=max(MIN_REFILL_PER_S, b.refill_per_s * 0.5),
                    evidence_at=0.0,
                )
                self._clean = 0
            else:
                if ticket > self._believed:  # an older report is not believed: ARM's later one counts this write
                    self._believed = ticket
                    b = self._granted(b, now, _number(headers.get(REMAINING_WRITES)))
                self._clean += status < 400
                if self._clean >= b.concurrency and b.concurrency < self._max_concurrency:
                    b = replace(b, concurrency=b.concurrency + 1)
                    self._clean = 0
            self._budget = b

    def _granted(self, b: WriteBudget, now: float, remaining: float | None) -> WriteBudget:
        """ARM took a token for this request; learn what it says is left, and the refill."""
        if remaining is None:  # no header: count the token ourselves
            return replace(b, tokens=max(0.0, self._estimated(now) - 1.0), as_of=now)
        capacity = max(b.capacity, remaining + 1.0) if b.reported else remaining + 1.0
        if not b.evidence_at:
            return replace(
                b,
                tokens=remaining,
                capacity=capacity,
                as_of=now,
                reported=True,
                evidence_at=now,
                evidence_tokens=remaining,
                evidence_granted=-self._in_flight,
            )
        granted = b.evidence_granted + 1
        refill = b.refill_per_s
        if now - b.evidence_at >= MIN_EVIDENCE_S:
            refill = max(refill, (remaining - b.evidence_tokens - 1.0 + granted) / (now - b.evidence_at))
        return replace(
            b,
            tokens=remaining,
            capacity=capacity,
            as_of=now,
            reported=True,
            refill_per_s=refill,
            evidence_granted=granted,
        )


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


class QuotaGate:
    """The Resource Graph quota of this identity, shared by the queries of one activity."""

    def __init__(
        self, quota: GraphQuota, *, max_wait_s: float, clock: Clock = time.time, sleep: Sleep = time.sleep
    ) -> None:
        self._clock, self._sleep, self._max_wait_s = clock, sleep, max_wait_s
        self._lock = threading.Lock()
        self._quota = quota

    def state(self) -> GraphQuota:
        with self._lock:
            return self._quota

    def before_send(self) -> int:
        """One query of the quota (a ticket of 0: queries go one at a time)."""
        with self._lock:
            now = self._clock()
            q = self._quota
            if q.remaining > 0 or now >= q.resets_at:
                self._quota = replace(q, remaining=max(0, q.remaining - 1), as_of=now)
                return 0
            wait = q.resets_at - now
        if wait > self._max_wait_s:
            raise BudgetExhausted(f"Resource Graph quota: resets in {wait:.0f}s, more than {self._max_wait_s:.0f}s")
        self._sleep(wait)
        return 0

    def after_error(self, ticket: int) -> None:
        """The query was spent (or not); the quota already counts it."""

    def after_response(self, ticket: int, status: int, headers: Mapping[str, str]) -> None:
        remaining, resets_after = headers.get("x-ms-user-quota-remaining"), headers.get("x-ms-user-quota-resets-after")
        now = self._clock()
        with self._lock:
            q = self._quota
            if status == 429:
                wait = retry_after_seconds(headers, now)
                pause = wait if wait is not None else GRAPH_WINDOW_S
                q = replace(q, remaining=0, resets_at=max(q.resets_at, now + pause))
            if remaining is not None and resets_after is not None:
                try:
                    hours, minutes, seconds = (float(part) for part in str(resets_after).split(":"))
                    q = replace(
                        q, remaining=int(remaining), resets_at=now + min(hours * 3600 + minutes * 60 + seconds, 3600.0)
                    )
                except ValueError:
                    pass
            self._quota = replace(q, as_of=now)


THROTTLE_OPTION = "throttle_gate"


class ThrottlingPolicy(HTTPPolicy[HttpRequest, HttpResponse]):
    """Applies the request's gate (keyword `throttle_gate=` on `send_request`) to every attempt.

    Sits after the retry policy, so a retried request waits at the gate again: after a 429
    no request of that subscription goes out before its Retry-After has passed.
    """

    def send(self, request: PipelineRequest[HttpRequest]) -> PipelineResponse[HttpRequest, HttpResponse]:
        if THROTTLE_OPTION in request.context.options:
            request.context[THROTTLE_OPTION] = request.context.options.pop(THROTTLE_OPTION)
        gate: Gate | None = request.context.get(THROTTLE_OPTION)
        if gate is None:
            return self.next.send(request)
        ticket = gate.before_send()
        try:
            response = self.next.send(request)
        except BaseException:
            gate.after_error(ticket)
            raise
        headers: Any = response.http_response.headers
        gate.after_response(ticket, response.http_response.status_code, headers)
        return response
