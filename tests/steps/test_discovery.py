"""Discovery: one row per machine, classified, numbered into enabling chunks; the fleet told."""

from __future__ import annotations

from dataclasses import replace

import pytest

from arc_sweeper.messages import BatchFailure, DiscoverBatch
from arc_sweeper.vocabulary import Action, Finding
from tests.steps.conftest import AS_OF, CURRENT, SUB_A, SUB_B, snapshot


def test_rows_findings_chunks_and_work(world):
    world.env["ENABLE_BATCH_SIZE"] = "2"
    world.graph.machines = [snapshot(SUB_A, f"vm-{i}") for i in range(3)] + [
        snapshot(SUB_A, "ok", version=CURRENT, auto_upgrade=True),
        snapshot(SUB_B, "vm-b"),
    ]
    result = world.discovered()
    assert result.machines == 5
    assert [(w.subscription_id, w.machines_to_enable, w.chunks) for w in result.work] == [(SUB_A, 3, 2), (SUB_B, 1, 1)]
    rows = {r.name: r for r in world.tables.all_machines(result.run_id)}
    assert rows["ok"].findings == (Finding.COMPLIANT,) and rows["ok"].enable_chunk == -1
    assert sorted(rows[f"vm-{i}"].enable_chunk for i in range(3)) == [0, 0, 1]
    assert {s.subscription_id: (s.machines, s.to_enable) for s in world.tables.subscriptions(result.run_id)} == {
        SUB_A: (4, 3),
        SUB_B: (1, 1),
    }
    assert len(world.tables.fleet(SUB_A)) == 4 and len(world.tables.fleet(SUB_B)) == 1


def test_an_unrecognised_id_is_recorded_and_never_numbered_for_enabling(world):
    odd = replace(snapshot(SUB_A, "odd"), id=snapshot(SUB_A, "odd").id + "?api-version=1999-01-01")
    world.graph.machines = [odd]
    result = world.discovered()
    [row] = world.tables.all_machines(result.run_id)
    assert Finding.UNRECOGNISED_ID in row.findings and row.action == Action.NONE and row.enable_chunk == -1
    assert result.work == ()


def test_a_failed_query_raises_so_the_activity_is_retried_and_writes_nothing(world):
    world.graph.fail = RuntimeError("Resource Graph is down")
    world.started()
    with pytest.raises(RuntimeError, match="Resource Graph is down"):
        world.discovery.discover_batch(DiscoverBatch("daily-2026-11-20", 0, AS_OF))
    assert world.tables.machine_rows == {}
    assert all(s.in_scope for s in world.tables.subscriptions("daily-2026-11-20"))


def test_a_batch_given_up_is_recorded_as_not_swept_with_the_reason(world):
    world.started()
    world.discovery.mark_not_swept(BatchFailure("daily-2026-11-20", 0, "429 TooManyRequests", AS_OF))
    rows = world.tables.subscriptions("daily-2026-11-20")
    assert rows and all(not s.in_scope and s.not_swept and "429 TooManyRequests" in s.skip_reason for s in rows)


def test_the_fleet_remembers_when_a_machine_first_failed(world):
    failing = snapshot(
        SUB_A, "vm", auto_upgrade=True, last_attempt_status="Failed", last_attempt_timestamp="2026-11-18T01:30:00Z"
    )
    world.graph.machines = [failing]
    world.discovered()
    [fleet] = world.tables.fleet(SUB_A).values()
    assert fleet.failing_since == "2026-11-18T01:30:00Z" and fleet.first_seen_at == AS_OF
