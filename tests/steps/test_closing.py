"""Closing a phase: counts recounted from the rows, the alert sent once, the run's status."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

import pytest
from azure.core.exceptions import ServiceResponseError

from arc_sweeper.messages import EnableChunk, PhaseEnd
from arc_sweeper.ports import PatchOutcome
from arc_sweeper.reporting.alerts import DEFAULT_MAX_ITEMS
from arc_sweeper.reporting.attention import attention_items, urgency
from arc_sweeper.steps import closing
from arc_sweeper.vocabulary import AlertKind, RunPhase, RunStatus
from tests.fakes import InMemoryTables
from tests.steps.conftest import AS_OF, SUB_A, SUB_B, World, snapshot

RUN = "daily-2026-11-20"


def test_finish_enabling_counts_alerts_and_follows_the_cohort(world):
    world.graph.machines = [snapshot(SUB_A, "vm-1"), snapshot(SUB_A, "vm-2")]
    world.discovered(RUN)
    world.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))
    assert world.closing.finish_enabling(PhaseEnd(RUN, AS_OF)) == 2
    run = world.tables.get_run(RUN)
    assert (run.status, run.phase) == (RunStatus.FOLLOWING, RunPhase.FOLLOWING)
    assert (run.cohort_size, run.machines_seen) == (2, 2)
    assert run.result_counts == {"enabled": 2} and run.alerts[AlertKind.SWEEP_COMPLETED].startswith("delivered")
    [payload] = world.alerts.payloads
    assert payload["kind"] == "sweep_completed" and payload["links"]["runStatusUrl"].endswith(f"/api/sweeps/{RUN}")


def test_a_retried_phase_end_does_not_alert_twice(world):
    world.discovered(RUN)
    world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))
    world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))
    assert len(world.alerts.payloads) == 1


def test_a_dry_run_completes_without_a_follow_up(world):
    world.graph.machines = [snapshot(SUB_A, "vm-1")]
    world.discovered(RUN, dry_run=True)
    world.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, True, AS_OF))
    assert world.closing.finish_enabling(PhaseEnd(RUN, AS_OF)) == 0
    assert world.tables.get_run(RUN).status == RunStatus.COMPLETED


def test_record_failure_keeps_the_reason_and_alerts(world):
    world.discovered(RUN)
    world.closing.record_failure(PhaseEnd(RUN, AS_OF, "the orchestration failed: boom"))
    run = world.tables.get_run(RUN)
    assert (run.status, run.error) == (RunStatus.FAILED, "the orchestration failed: boom")
    assert world.alerts.payloads[-1]["kind"] == "sweep_failed"


def test_the_lease_is_released_when_enabling_ends_or_the_run_fails(world):
    world.discovered(RUN)
    assert RUN in world.leases.holders
    world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))
    assert RUN not in world.leases.holders
    world.discovered("other-run")
    world.closing.record_failure(PhaseEnd("other-run", AS_OF, "boom"))
    assert world.leases.holders == {}


def test_the_digest_counts_every_attention_item_and_carries_the_most_urgent(world):
    """Closing holds one subscription's rows at a time and keeps only the alert's share of the items:
    the counts are still of every item, and the refused PATCHes of the last subscription lead."""
    world.graph.machines = [
        snapshot(SUB_A, f"dark-{i:03}", status="Disconnected") for i in range(3 * DEFAULT_MAX_ITEMS)
    ]
    world.graph.machines += [snapshot(SUB_B, f"locked-{i}") for i in range(3)] + [snapshot(SUB_B, "fine")]
    world.arm.answer = lambda machine_id: (
        PatchOutcome(False, 409, "ScopeLocked", "locked") if "locked" in machine_id else PatchOutcome(True, 200)
    )
    world.discovered(RUN)
    for sub in (SUB_A, SUB_B):
        world.enabling.enable_chunk(EnableChunk(RUN, sub, 0, False, AS_OF))
    world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))

    every_item = attention_items(world.tables.machine_rows.values(), [])
    block = world.alerts.payloads[-1]["attention"]
    assert block["total"] == len(every_item) == 3 * DEFAULT_MAX_ITEMS + 3
    assert {kind: n for kind, n in block["byKind"].items() if n} == Counter(item.kind for item in every_item)
    assert [item["resourceId"] for item in block["items"]] == [
        item.resource_id for item in heapq.nsmallest(DEFAULT_MAX_ITEMS, every_item, key=urgency)
    ]
    assert [item["kind"] for item in block["items"][:4]] == ["enable_failed"] * 3 + ["not_connected"]
    assert world.alerts.payloads[-1]["severity"] == "error" and block["truncated"] is True


@dataclass
class DroppingTables(InMemoryTables):
    """Storage that drops the connection on the next `drops` reads of SUB_A's machine rows."""

    drops: int = 0

    def machines(self, run_id, subscription_id, **options):
        if subscription_id == SUB_A and self.drops:
            self.drops -= 1
            raise ServiceResponseError("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))")
        return super().machines(run_id, subscription_id, **options)


@pytest.mark.parametrize("drops", [1, closing.ATTEMPTS_PER_SUBSCRIPTION - 1, closing.ATTEMPTS_PER_SUBSCRIPTION])
def test_a_dropped_connection_costs_one_subscription_a_bounded_retry_not_the_whole_close(monkeypatch, drops):
    waits: list[float] = []
    monkeypatch.setattr(closing.time, "sleep", waits.append)
    world = World(tables=DroppingTables())
    world.graph.machines = [snapshot(SUB_A, "vm-1"), snapshot(SUB_B, "vm-2")]
    world.discovered(RUN)
    world.tables.drops = drops
    if drops < closing.ATTEMPTS_PER_SUBSCRIPTION:
        world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))
        assert world.tables.get_run(RUN).machines_seen == 2 and len(world.alerts.payloads) == 1
    else:  # every try failed: the activity fails (and the orchestration retries it), nothing is half-counted
        with pytest.raises(ServiceResponseError):
            world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))
        assert world.alerts.payloads == [] and world.tables.get_run(RUN).machines_seen == 0
    assert waits == [1, 2][: min(drops, closing.ATTEMPTS_PER_SUBSCRIPTION - 1)]
