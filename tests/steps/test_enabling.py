"""Enabling: each machine of a chunk PATCHed once, results recorded, dry runs send nothing."""
from __future__ import annotations

import pytest

from arc_sweeper.messages import EnableChunk
from arc_sweeper.ports import PatchOutcome
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
    assert {(r.action_result, r.outcome, r.enabled_at) for r in rows} == {(EnableResult.ENABLED, Outcome.PENDING, AS_OF)}
    assert {f.last_result for f in chunk.tables.fleet(SUB_A).values()} == {"enabled"}


def test_a_refused_patch_is_recorded_with_the_arm_code(chunk):
    chunk.arm.answer = lambda machine_id: (PatchOutcome(False, 409, "ScopeLocked", "locked") if "vm-1" in machine_id
                                           else PatchOutcome(True, 200))
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
