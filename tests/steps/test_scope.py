"""Starting a run: its row, its scope of subscriptions, and whether it may write."""

from __future__ import annotations

from arc_sweeper.messages import StartRun, SweepRequest
from arc_sweeper.ports import Subscription
from arc_sweeper.vocabulary import RunPhase, RunStatus, Trigger
from tests.steps.conftest import AS_OF, SUB_A, SUB_B

SUB_C = "cccccccc-0000-4000-8000-000000000003"


def test_every_visible_subscription_minus_the_deny_list_in_batches(world):
    world.env.update(SUBSCRIPTION_DENY_LIST=SUB_B, RESOURCE_GRAPH_BATCH_SIZE="1")
    world.directory.known.append(Subscription(SUB_C, "Third", "Enabled"))
    plan = world.scope.start_run(StartRun(SweepRequest("r1", Trigger.TIMER), AS_OF))
    rows = {s.subscription_id: s for s in world.tables.subscriptions("r1")}
    assert (plan.batch_count, plan.subscriptions_in_scope) == (2, 2)
    assert rows[SUB_B].in_scope is False and rows[SUB_B].skip_reason == "on SUBSCRIPTION_DENY_LIST"
    assert sorted(rows[s].batch_index for s in (SUB_A, SUB_C)) == [0, 1]
    run = world.tables.get_run("r1")
    assert (run.status, run.phase, run.subscriptions_skipped) == (RunStatus.RUNNING, RunPhase.SWEEPING, 1)


def test_a_requested_subscription_that_cannot_be_read_is_skipped_with_the_reason(world):
    world.directory.unreadable.add(SUB_B)
    world.scope.start_run(StartRun(SweepRequest("r1", Trigger.HTTP, (SUB_A, SUB_B)), AS_OF))
    rows = {s.subscription_id: s for s in world.tables.subscriptions("r1")}
    assert rows[SUB_A].in_scope and not rows[SUB_B].in_scope
    assert "AuthorizationFailed" in rows[SUB_B].skip_reason


def test_a_retried_start_returns_the_plan_already_made(world):
    first = world.scope.start_run(StartRun(SweepRequest("r1", Trigger.TIMER), AS_OF))
    world.directory.known.clear()  # a second resolution would now find nothing
    assert world.scope.start_run(StartRun(SweepRequest("r1", Trigger.TIMER), AS_OF)) == first


def test_the_request_window_and_interval_are_recorded_and_the_interval_capped_by_the_window(world):
    plan = world.scope.start_run(
        StartRun(SweepRequest("r1", Trigger.HTTP, follow_up_window="P1D", poll_interval="P2D"), AS_OF)
    )
    assert (plan.follow_up_window_s, plan.poll_interval_s) == (86400, 86400)


def test_a_run_that_writes_holds_the_enabling_lease_and_an_overlapping_one_reports_only(world):
    world.scope.start_run(StartRun(SweepRequest("r1", Trigger.HTTP, (SUB_A,)), AS_OF))
    assert set(world.leases.holders) == {"r1"}
    plan = world.scope.start_run(StartRun(SweepRequest("r2", Trigger.TIMER), AS_OF))  # every subscription
    assert plan.dry_run
    assert world.tables.get_run("r2").dry_run_reason == (
        "sweep r1 is still enabling an overlapping scope: this run reports only"
    )
    world.scope.start_run(StartRun(SweepRequest("r3", Trigger.HTTP, (SUB_B,)), AS_OF))  # disjoint: fine
    assert set(world.leases.holders) == {"r1", "r3"}


def test_a_dry_run_takes_no_lease(world):
    world.scope.start_run(StartRun(SweepRequest("r1", Trigger.HTTP, dry_run=True), AS_OF))
    assert world.leases.holders == {}
