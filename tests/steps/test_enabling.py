"""Enabling: each machine of a chunk PATCHed once, results recorded, dry runs send nothing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from arc_sweeper.fleet import FleetLedger
from arc_sweeper.messages import ChunkFailure, EnableChunk
from arc_sweeper.ports import PatchOutcome
from arc_sweeper.steps.enabling import EnablingStep, NotAllSent
from arc_sweeper.timefmt import iso
from arc_sweeper.vocabulary import EnableResult, Outcome
from tests.steps.conftest import AS_OF, SUB_A, snapshot

RUN = "daily-2026-11-20"


@pytest.fixture
def chunk(world):
    world.graph.machines = [snapshot(SUB_A, f"vm-{i}") for i in range(4)]
    world.discovered(RUN)
    return world


def test_every_machine_of_the_chunk_is_patched_once_and_recorded(chunk):
    tally = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert tally.counts == {"enabled": 4}
    assert sorted(chunk.arm.sent) == sorted(m.id for m in chunk.graph.machines)
    rows = chunk.tables.machines(RUN, SUB_A)
    seen = {(r.action_result, r.outcome, r.enabled_at) for r in rows}
    assert seen == {(EnableResult.ENABLED, Outcome.PENDING, AS_OF)}
    assert {f.last_result for f in chunk.tables.fleet(SUB_A).values()} == {"enabled"}


def test_a_refused_patch_is_recorded_with_the_arm_code(chunk):
    chunk.arm.answer = lambda machine_id: (
        PatchOutcome(False, 409, "ScopeLocked", "locked") if "vm-1" in machine_id else PatchOutcome(True, 200)
    )
    tally = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert tally.counts == {"enabled": 3, "failed": 1}
    locked = next(r for r in chunk.tables.machines(RUN, SUB_A) if r.name == "vm-1")
    assert (locked.arm_http_status, locked.arm_error_code, locked.outcome) == (409, "ScopeLocked", None)


def test_a_second_call_for_the_same_chunk_sends_nothing_again(chunk):
    chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    again = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert again.counts == {"enabled": 4} and len(chunk.arm.sent) == 4


def test_a_dry_run_sends_nothing_and_says_what_it_would_have_done(chunk):
    tally = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, True, AS_OF))
    assert tally.counts == {"dry_run": 4} and chunk.arm.sent == []


class FlakyTables:
    """Wraps the in-memory tables; machine writes fail from the `fail_from`-th on."""

    def __init__(self, tables, fail_from: int) -> None:
        self.tables, self.fail_from, self.calls = tables, fail_from, 0

    def put_machines(self, records):
        records = list(records)
        self.calls += 1
        if self.calls >= self.fail_from:
            raise ConnectionError("Table Storage unreachable")
        self.tables.put_machines(records)

    def __getattr__(self, name):
        return getattr(self.tables, name)


def test_when_recording_fails_no_new_patch_is_sent_and_the_retry_patches_nothing_twice(chunk):
    chunk.env.update(MAX_PARALLEL_WRITES_PER_SUBSCRIPTION="1")  # one PATCH per intent write
    flaky = FlakyTables(chunk.tables, fail_from=4)  # (nothing to reconcile), intent 1, result 1 + intent 2, then fails
    step = EnablingStep(chunk.settings, flaky, chunk.arm, FleetLedger(chunk.tables), chunk.leases)
    with pytest.raises(ConnectionError):
        step.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert len(chunk.arm.sent) == 2  # the third intent was never recorded, so its PATCH never went out
    retried = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert retried.counts == {"enabled": 4}
    assert set(chunk.arm.reads) == {chunk.arm.sent[1]}  # its result was lost with the write: read back, not sent
    assert Counter(chunk.arm.sent) == Counter(m.id for m in chunk.graph.machines)  # each exactly once


class RecordingTables(FlakyTables):
    """Keeps what each machine write held, by enable result."""

    def __init__(self, tables) -> None:
        super().__init__(tables, fail_from=10**6)
        self.writes: list[list[str]] = []

    def put_machines(self, records):
        records = list(records)
        self.writes.append([str(r.action_result) for r in records])
        super().put_machines(records)


def test_patches_one_at_a_time_cost_one_write_each_a_result_riding_with_the_next_intent(chunk):
    chunk.env.update(MAX_PARALLEL_WRITES_PER_SUBSCRIPTION="1")
    recording = RecordingTables(chunk.tables)
    step = EnablingStep(chunk.settings, recording, chunk.arm, FleetLedger(chunk.tables), chunk.leases)
    assert step.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF)).counts == {"enabled": 4}
    assert [w for w in recording.writes if w] == [
        ["sending"],
        ["enabled", "sending"],
        ["enabled", "sending"],
        ["enabled", "sending"],
        ["enabled"],
    ]


def test_a_lost_answer_is_read_back_and_never_patched_twice(chunk):
    lost = chunk.graph.machines[0].id
    chunk.arm.answer = lambda machine_id: (
        PatchOutcome(False, None, "NoResponse", "connection reset")
        if machine_id == lost and machine_id not in chunk.arm.sent[:-1]
        else PatchOutcome(True, 200)
    )
    result = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert result.counts == {"enabled": 4} and chunk.arm.reads == [lost]
    assert Counter(chunk.arm.sent) == Counter(m.id for m in chunk.graph.machines)


def test_a_lost_answer_that_did_not_apply_is_patched_once_more_by_the_retry(chunk):
    lost = chunk.graph.machines[0].id
    chunk.arm.lost_answers_applied = False
    chunk.arm.answer = lambda machine_id: (
        PatchOutcome(False, None, "NoResponse", "connection reset")
        if machine_id == lost and chunk.arm.sent.count(lost) == 1
        else PatchOutcome(True, 200)
    )
    with pytest.raises(NotAllSent, match="NoResponse"):
        chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    result = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert result.counts == {"enabled": 4} and chunk.arm.sent.count(lost) == 2  # the first never applied


def test_a_call_out_of_time_returns_what_remains_for_the_next_call(chunk):
    chunk.env.update(MAX_PARALLEL_WRITES_PER_SUBSCRIPTION="1")
    ticks = iter(range(0, 10_000, 400))  # every reading of the clock is 400 s later (the budget is 600 s)
    step = EnablingStep(
        chunk.settings,
        chunk.tables,
        chunk.arm,
        FleetLedger(chunk.tables),
        chunk.leases,
        monotonic=lambda: float(next(ticks)),
    )
    first = step.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert first.remaining > 0 and first.counts.get("not_attempted") == first.remaining
    rest = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF, first.budget, 1))
    assert rest.remaining == 0 and rest.counts == {"enabled": 4} and len(chunk.arm.sent) == 4


def test_a_patch_the_time_budget_cut_off_at_the_gate_is_left_for_the_next_call_not_failed(chunk):
    """The last PATCH waited for ARM's budget until the call's time ran out: it comes back unsent, and the
    call returns it as remaining (a continuation now), instead of failing for an activity retry 30 s later."""
    chunk.env.update(MAX_PARALLEL_WRITES_PER_SUBSCRIPTION="1")
    now = [0.0]

    def answer(machine_id: str) -> PatchOutcome:
        if len(chunk.arm.sent) < 4:
            return PatchOutcome(True, 200)
        now[0] = 601.0  # ENABLE_TIME_BUDGET (600 s) ran out while this one waited at the gate
        return PatchOutcome(False, None, "WriteBudgetExhausted", "the call's time budget ran out", sent=False)

    chunk.arm.answer = answer
    step = EnablingStep(
        chunk.settings, chunk.tables, chunk.arm, FleetLedger(chunk.tables), chunk.leases, monotonic=lambda: now[0]
    )
    first = step.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert (first.remaining, first.counts) == (1, {"enabled": 3, "not_attempted": 1})
    chunk.arm.answer = lambda machine_id: PatchOutcome(True, 200)
    rest = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF, first.budget, 1))
    assert rest.counts == {"enabled": 4} and len(set(chunk.arm.sent)) == 4


def test_abandoning_a_chunk_fails_its_open_rows_with_the_reason(chunk):
    chunk.enabling.abandon_chunk(ChunkFailure(RUN, SUB_A, 0, "storage unreachable", AS_OF))
    rows = chunk.tables.machines(RUN, SUB_A)
    assert {(r.action_result, r.arm_error_code) for r in rows} == {(EnableResult.FAILED, "NotSent")}
    assert all("storage unreachable" in r.arm_error_message for r in rows) and chunk.arm.sent == []


def test_a_sweep_whose_lease_another_sweep_took_sends_nothing_more_and_says_why(chunk):
    """Stalled past ENABLING_LEASE: its lease ran out and an overlapping sweep took the scope."""
    ran_out = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # the lease (PT6H) taken at AS_OF is over
    assert chunk.leases.acquire("http-later", (SUB_A,), ran_out, timedelta(hours=6)) is None
    result = chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, iso(ran_out)))
    assert chunk.arm.sent == [] and result.counts == {"failed": 4}
    rows = chunk.tables.machines(RUN, SUB_A)
    assert {r.arm_error_code for r in rows} == {"NotSent"}
    assert all("sweep http-later took over an overlapping scope" in r.arm_error_message for r in rows)


def test_a_sweep_within_its_lease_renews_it(chunk):
    later = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 5 h after AS_OF, within PT6H
    chunk.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, iso(later)))
    assert len(chunk.arm.sent) == 4
    assert chunk.leases.holders[RUN][1] == later + timedelta(hours=6)
