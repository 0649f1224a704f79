"""Closing a phase: counts recounted from the rows, the alert sent once, the run's status."""

from __future__ import annotations

from arc_sweeper.messages import EnableChunk, PhaseEnd
from arc_sweeper.vocabulary import AlertKind, RunPhase, RunStatus
from tests.steps.conftest import AS_OF, SUB_A, snapshot

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
