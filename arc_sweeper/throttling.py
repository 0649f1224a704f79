"""Azure's budgets, kept on our side: ARM writes per subscription, Resource Graph queries per identity.

ARM grants writes per subscription (and principal) from a token bucket, documented as 200
at once then 10 per second (reference §9), and says what is left in
`x-ms-ratelimit-remaining-subscription-writes`. Resource Graph allows about 15 queries per
5 seconds per identity and says what is left in `x-ms-user-quota-remaining` /
`x-ms-user-quota-resets-after` (§8.4). The sweep is fastest when it spends exactly these
budgets and draws no 429, so every request to a budgeted service passes a gate first:

- :class:`WriteGate` paces one subscription's PATCHes: it waits for a token, pauses the
  whole subscription (not only the request that drew it) for a 429's `Retry-After`, and
  adapts how many PATCHes may be in flight (double while answers are clean, halve on 429).
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
MIN_EVIDENCE_S = 1.0
"""The refill is measured over at least this long. The window is timed from the sending of the PATCH
that opened it, so that it is never shorter than the time ARM's figures span, and what it measures is
a lower bound however short it is; below a refill period it proves nothing anyway."""
GRAPH_QUOTA = 15
GRAPH_WINDOW_S = 5.0
MAX_CONCURRENCY = 64
FIRST_CONCURRENCY = 4
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

    `tokens` is what ARM said was left (with a fraction, once proven: see WriteGate); `capacity`
    the most it has said plus one; `refill_per_s` a cautious estimate of the refill. The
    `evidence_*` fields are the window the refill is measured over: what ARM reported at its
    start and how many writes it granted since.
    """

    tokens: float = ARM_WRITE_BUCKET
    capacity: float = ARM_WRITE_BUCKET
    refill_per_s: float = FIRST_REFILL_GUESS_PER_S
    concurrency: int = FIRST_CONCURRENCY
    paused_until: float = 0.0
    as_of: float = 0.0
    throttled: int = 0  # 429s drawn so far
    early: int = 0  # requests sent before a Retry-After had passed (should stay 0)
    reported: bool = False  # tokens and capacity come from ARM, not from the documentation
    evidence_at: float = 0.0  # when the PATCH whose exact figure opened the window was sent (0: no window yet)
    evidence_tokens: float = 0.0
    evidence_granted: int = 0
    measured_refill_per_s: float = 0.0  # what the window has proven ARM refills at least (0: not yet)
    lower_bound: bool = False  # `tokens` is proven: from an exact figure or a 429, not a guess or an older figure


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


@dataclass
class _OnItsWay:
    """A PATCH sent and not yet answered: when it went, and how many others were on their way with it."""

    sent_at: float
    overlap: int


class WriteGate:
    """Thread-safe pacing of one subscription's PATCHes, shared by every worker of a chunk.

    A PATCH goes out only for a token ARM is known to hold: one it reported in
    `x-ms-ratelimit-remaining-subscription-writes` and no PATCH in flight has spoken for yet,
    with one token to spare when another PATCH is in flight. Only when none is left may a
    single PATCH go on the estimated refill; it is alone in flight, so if ARM answers 429 no
    other request of the subscription is already on its way to arrive before the Retry-After
    has passed.

    Answers overtake each other, so ARM's figure is taken as it stands only when it is exact:
    its PATCH was the only one on its way from its sending to its answer. Any other figure may be older
    than one already read (ARM counted another PATCH after it), so it can only lower what the
    gate believes, never raise it; the next exact figure corrects any shortfall.

    The refill is estimated from below: over a window of at least MIN_EVIDENCE_S, opened on an
    exact figure and timed from that PATCH's sending, ARM's bucket gained at least (reported
    now - PATCHes that may have been counted after it - reported then - 1 + writes granted
    meanwhile) tokens, whether or not it was full at times. The PATCHes of one burst that draw
    429s pause the whole subscription for the Retry-After, and halve the refill estimate and the
    concurrency once.

    Until the window has proven a refill, the last token ARM reports is spent MIN_EVIDENCE_S after
    its figure rather than at once: that answer shows what ARM refilled meanwhile. Spent at once,
    the gate would next wait a whole period of its first (low) guess, while a small bucket that
    refills faster fills up and overflows.

    ARM reports whole tokens, so a figure alone leaves the gate up to one refill period behind
    ARM. Between two exact figures the gate keeps the fraction it can prove: the last proven
    tokens, refilled at the measured rate since, less this PATCH's token, when that lies within
    the new figure's whole token. So when PATCHes go one at a time on the refill, each goes
    when ARM's token is there, not a period after ARM's figure last changed (and tokens so
    proven may go while others are on their way, with no token to spare). A figure below
    what the gate proved (another caller of the same principal spent tokens) is taken as it is.

    Until ARM has reported the bucket once, PATCHes go one at a time: the documented 200 is a
    guess, and a subscription whose bucket is smaller (or spent by another tool of the same
    principal) would otherwise answer the first few at once with 429s. The first answer's
    header tells the truth; ARM sends it with every write (a subscription whose answers never
    carry it stays one at a time). After that the concurrency doubles after as many clean
    answers as it allows, up to MAX_PARALLEL_WRITES_PER_SUBSCRIPTION, and `room()` tells the
    sender how many PATCHes to hand over at once, so that few threads wait here.
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
        self._budget = replace(
            budget, as_of=budget.as_of or clock(), concurrency=max(1, min(budget.concurrency, max_concurrency))
        )
        self._clean = 0
        self._sent = 0  # tickets handed out
        self._on_its_way: dict[int, _OnItsWay] = {}  # by ticket

    @property
    def concurrency(self) -> int:
        """PATCHes that may be in flight (or waiting here) now: never more than the gate's maximum."""
        with self._lock:
            return self._budget.concurrency

    @property
    def _on_the_way(self) -> int:
        """PATCHes sent and not yet answered (called with the lock held)."""
        return len(self._on_its_way)

    def room(self) -> int:
        """How many PATCHes may be on their way or waiting here now: the tokens ARM is believed to hold (at
        least one, to wait for the refill), never more than the concurrency. More would only wait here,
        each holding a thread."""
        with self._lock:
            return max(1, min(self._budget.concurrency, int(self._estimated(self._clock()))))

    def state(self) -> WriteBudget:
        with self._lock:
            return self._budget

    def _estimated(self, now: float) -> float:
        """Tokens ARM holds now if it refills at our estimate, before the PATCHes in flight take theirs."""
        return _refilled(self._budget, now, self._budget.refill_per_s)

    def before_send(self) -> int:
        """Take a token, waiting (bounded) while the subscription is paused or has none to spare."""
        give_up_at = self._clock() + self._max_wait_s
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_before_sending(now)
                if wait <= 0.0:
                    self._sent += 1
                    for other in self._on_its_way.values():
                        other.overlap += 1
                    self._on_its_way[self._sent] = _OnItsWay(sent_at=now, overlap=len(self._on_its_way))
                    return self._sent
            if now + wait > give_up_at:
                raise BudgetExhausted(f"ARM write budget: would wait {wait:.0f}s, more than {self._max_wait_s:.0f}s")
            if self._out_of_time():
                raise BudgetExhausted(
                    "ARM write budget: the call's time budget ran out while waiting; the next call sends it"
                )
            self._sleep(max(0.01, min(wait, 0.05 if self._on_the_way else 1.0)))

    def _wait_before_sending(self, now: float) -> float:
        """0 when a PATCH may go now, else how long to wait before asking again (called with the lock held)."""
        b, on_the_way = self._budget, self._on_the_way
        if now < b.paused_until:
            return b.paused_until - now
        if not b.reported and on_the_way:
            return 0.01  # one at a time until ARM has reported the bucket
        whole = b.tokens - on_the_way
        if whole >= 1.0 + (on_the_way > 0):
            if whole >= 2.0 or b.measured_refill_per_s or not b.reported:
                return 0.0
            # The last token ARM reported, while the refill is unproven: spent a little later, its answer
            # shows what ARM refilled meanwhile, rather than at once and then a wait on the first guess.
            return max(0.0, b.as_of + MIN_EVIDENCE_S - now)
        if b.lower_bound and _proven(b, now) - on_the_way >= 1.0:
            return 0.0
        if on_the_way:
            return 0.01
        return max(0.0, (1.0 - self._estimated(now)) / b.refill_per_s)

    def after_error(self, ticket: int) -> None:
        """No answer (the connection failed): ARM may have taken the token, so count it taken."""
        with self._lock:
            self._on_its_way.pop(ticket, None)
            self._budget = replace(self._budget, tokens=max(0.0, self._budget.tokens - 1.0))

    def after_response(self, ticket: int, status: int, headers: Mapping[str, str]) -> None:
        with self._lock:
            now = self._clock()
            sent = self._on_its_way.pop(ticket, _OnItsWay(sent_at=now, overlap=0))
            b = self._budget
            if now < b.paused_until:
                b = replace(b, early=b.early + 1)
            if status == 429:
                wait = retry_after_seconds(headers, now)
                first = now >= b.paused_until  # the PATCHes of one burst that all drew a 429 are one lesson
                b = replace(
                    b,
                    tokens=0.0,
                    as_of=now,
                    paused_until=max(b.paused_until, now + (wait or 1.0)),
                    throttled=b.throttled + 1,
                    concurrency=max(1, b.concurrency // 2) if first else b.concurrency,
                    refill_per_s=max(MIN_REFILL_PER_S, b.refill_per_s * 0.5) if first else b.refill_per_s,
                    evidence_at=0.0,
                    measured_refill_per_s=0.0,  # proven again by a new window before a fraction is kept
                    lower_bound=True,
                )
                self._clean = 0
            else:
                # Exact only if nothing else was on its way while it was: otherwise ARM may have counted
                # up to `overlap` other PATCHes after this one, and the figure is too high by as many.
                b = self._granted(b, now, _number(headers.get(REMAINING_WRITES)), sent.overlap, sent.sent_at)
                self._clean += status < 400
                if self._clean >= b.concurrency and b.concurrency < self._max_concurrency:
                    # Doubling (a slow start) reaches a bucket's worth of PATCHes in a few round trips:
                    # the tokens are ARM's to give, and what is in flight never exceeds them anyway.
                    b = replace(b, concurrency=min(self._max_concurrency, b.concurrency * 2))
                    self._clean = 0
            self._budget = b

    def _granted(
        self, b: WriteBudget, now: float, remaining: float | None, overlap: int, sent_at: float
    ) -> WriteBudget:
        """ARM took a token for this request; learn what it says is left, and the refill.

        A figure is believed as it stands only when it is exact (`overlap` 0: no other PATCH was on its
        way with it); otherwise only when it is lower than what we believe, because answers overtake
        each other and a report can be older than one already read. For the refill, a figure counts
        less the PATCHes that may have been counted after it, and a window opens only on an exact one.
        """
        believed = self._estimated(now)
        if remaining is None:  # no header: count the token ourselves
            return replace(b, tokens=max(0.0, believed - 1.0), as_of=now, lower_bound=False)
        capacity = max(b.capacity, remaining + 1.0) if b.reported else remaining + 1.0
        granted = b.evidence_granted + 1  # writes ARM granted since the evidence window opened
        refill, measured = b.refill_per_s, b.measured_refill_per_s
        if b.evidence_at and now - b.evidence_at >= MIN_EVIDENCE_S:
            measured = max(0.0, remaining - overlap - b.evidence_tokens - 1.0 + granted) / (now - b.evidence_at)
            refill = max(refill, measured)
        if overlap:
            # Lower than what we believe: ARM counted this PATCH after the figure we hold, so it is fresher.
            # Higher: an older figure (it counted this one before), or a refill we cannot tell apart from one.
            tokens = min(remaining, believed) if b.reported else remaining
        else:
            tokens = remaining + self._proven_fraction(b, now, remaining)
            if not b.evidence_at:  # open the window: this exact figure is where it starts
                b = replace(b, evidence_at=sent_at, evidence_tokens=remaining)
                granted = 0
        return replace(
            b,
            tokens=tokens,
            capacity=capacity,
            as_of=now,
            reported=True,
            refill_per_s=refill,
            evidence_granted=granted,
            measured_refill_per_s=measured,
            lower_bound=not overlap,
        )

    @staticmethod
    def _proven_fraction(b: WriteBudget, now: float, remaining: float) -> float:
        """What ARM holds beyond an exact figure of `remaining`, as far as it is proven: the last proven tokens,
        refilled at the measured rate, less this PATCH's token. 0 when nothing is proven, or when the figure is
        lower than what was proven (then the figure is right and the proof was not)."""
        if not b.lower_bound:
            return 0.0
        fraction = _proven(b, now) - 1.0 - remaining
        return fraction if 0.0 < fraction < 1.0 else 0.0


def _proven(b: WriteBudget, now: float) -> float:
    """Tokens ARM holds for certain at `now` (before the PATCHes on their way take theirs), when `b.tokens` is a
    lower bound: refilled only at the rate the evidence window has proven."""
    return _refilled(b, now, min(b.refill_per_s, b.measured_refill_per_s))


def _refilled(b: WriteBudget, now: float, refill_per_s: float) -> float:
    """`b.tokens` refilled at `refill_per_s` from `b.as_of` to `now`, up to the bucket's capacity."""
    return min(b.capacity, b.tokens + max(0.0, now - b.as_of) * refill_per_s)


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
