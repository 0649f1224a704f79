"""A catalogue that keeps itself current, through the real app, tables and virtual clock."""

from __future__ import annotations

from datetime import timedelta

from local_stack.simulator.fleet import Fleet, Machine, Subscription
from tests.e2e.fleets import START, SUB_A
from tests.e2e.support import store_of, sweep_instances

UNLISTED = "1.68.03533.1400"  # newer than the bundled catalogue's newest (1.67, 2026-08)


def daily(stack) -> str:
    stack.fire_timer()
    run = max(sweep_instances(stack), key=lambda i: i.instance_id)
    assert stack.run_to_completion(run.instance_id).runtime_status == "Completed"
    return run.instance_id


def test_an_unlisted_release_is_learned_and_falls_out_of_support_a_year_on(make_stack):
    fleet = Fleet(
        [Subscription(SUB_A, "App")],
        [Machine.build(SUB_A, "rg", "ahead", agent_version=UNLISTED, auto_upgrade=True)],
        created_at=START,
    )
    stack, sim, receiver = make_stack(fleet, env={"DRY_RUN": "true"})
    store = store_of(stack)

    first = daily(stack)
    [learned] = store.observed_releases()
    assert (learned.release, learned.first_seen_at[:10], learned.run_id) == ("1.68", START.date().isoformat(), first)
    assert learned.first_seen_on.endswith("/machines/ahead")
    [row] = store.all_machines(first)
    assert "out_of_support" not in row.findings
    run = store.get_run(first)
    assert any("the estate runs agent 1.68" in notice for notice in run.notices)
    assert any("the estate runs agent 1.68" in notice for notice in receiver.payloads[0]["notices"])

    stack.host.clock.advance_to(stack.host.clock.now() + timedelta(days=400))
    later = daily(stack)
    assert later != first and store.get_run(later).catalogue["1.68"] == "2026-11"
    [row] = store.all_machines(later)
    assert "out_of_support" in row.findings  # first seen November 2026: out of support by December 2027
    assert [r.release for r in store.observed_releases()] == ["1.68"]  # learned once
