"""When things go wrong: the run is failed with its error, and alert trouble never fails a sweep."""

from __future__ import annotations

import os
from datetime import timedelta

from arc_sweeper.steps.discovery import DiscoveryStep
from arc_sweeper.steps.scope import ScopeStep
from arc_sweeper.tables import SweepStore
from tests.e2e.fleets import SUB_A, SUB_B, mixed_fleet

ALLOW = {"SUBSCRIPTION_ALLOW_LIST": f"{SUB_A},{SUB_B}"}


def test_a_discovery_batch_that_keeps_failing_is_recorded_and_the_run_completes(make_stack, monkeypatch):
    stack, sim, receiver = make_stack(mixed_fleet(), env=ALLOW)

    def broken(self, work):
        raise RuntimeError("Resource Graph exploded in a way nobody expected")

    monkeypatch.setattr(DiscoveryStep, "discover_batch", broken)
    stack.fire_timer()
    run_id = next(i.instance_id for i in stack.host.instances() if i.name == "sweep_orchestrator")
    final = stack.run_to_completion(run_id)

    assert final.runtime_status == "Completed"
    attempts = [
        e for e in stack.host.history(run_id) if e.get("EventType") == 4 and e.get("Name") == "discover_machines"
    ]
    assert len(attempts) == 3  # the activity retry options: three attempts, then the batch is recorded
    store = SweepStore.from_connection_string(stack.storage_connection, os.environ["TABLE_PREFIX"])
    run = store.get_run(run_id)
    assert (run.status, run.phase) == ("completed", "done") and "Resource Graph exploded" in run.error
    assert {s.subscription_id for s in store.subscriptions(run_id) if s.not_swept} == {SUB_A, SUB_B}
    [digest] = receiver.payloads
    assert digest["kind"] == "sweep_completed" and digest["severity"] == "error"
    assert digest["attention"]["byKind"]["subscription_not_swept"] == 2
    assert "Resource Graph exploded" in digest["error"]
    assert sim.patches() == []


def test_a_run_that_cannot_start_fails_and_sends_sweep_failed(make_stack, monkeypatch):
    stack, sim, receiver = make_stack(mixed_fleet(), env=ALLOW)

    def broken(self, start):
        raise RuntimeError("the subscription directory exploded")

    monkeypatch.setattr(ScopeStep, "start_run", broken)
    stack.fire_timer()
    run_id = next(i.instance_id for i in stack.host.instances() if i.name == "sweep_orchestrator")
    final = stack.run_to_completion(run_id)

    assert final.runtime_status == "Failed" and "directory exploded" in final.error
    run = SweepStore.from_connection_string(stack.storage_connection, os.environ["TABLE_PREFIX"]).get_run(run_id)
    assert (run.status, run.phase) == ("failed", "done") and "directory exploded" in run.error
    assert [p["kind"] for p in receiver.payloads] == ["sweep_failed"]
    assert receiver.payloads[0]["severity"] == "error" and "directory exploded" in receiver.payloads[0]["error"]
    assert sim.patches() == []


def test_an_alert_that_cannot_be_delivered_is_recorded_and_the_sweep_completes(make_stack):
    stack, sim, receiver = make_stack(mixed_fleet(), env={**ALLOW, "FOLLOW_UP_WINDOW": "P1D", "POLL_INTERVAL": "PT12H"})
    receiver.fail_next(100, status=400)  # a client error: not retried
    stack.fire_timer()
    run_id = next(i.instance_id for i in stack.host.instances() if i.name == "sweep_orchestrator")
    assert stack.run_to_completion(run_id).runtime_status == "Completed"

    run = SweepStore.from_connection_string(stack.storage_connection, os.environ["TABLE_PREFIX"]).get_run(run_id)
    assert run.status == "completed"
    assert set(run.alerts) == {"sweep_completed", "follow_up_completed"}
    assert all(status.startswith("failed") for status in run.alerts.values()), run.alerts
    assert receiver.payloads == []
    assert "sig=" not in str(run.alerts) and receiver.signature not in str(run.alerts)


def test_without_a_webhook_alerts_are_skipped_and_the_run_says_so(make_stack):
    stack, sim, receiver = make_stack(mixed_fleet(), env={**ALLOW, "LOGIC_APP_WEBHOOK_URL": "", "DRY_RUN": "true"})
    stack.fire_timer()
    run_id = next(i.instance_id for i in stack.host.instances() if i.name == "sweep_orchestrator")
    assert stack.run_to_completion(run_id).runtime_status == "Completed"
    run = SweepStore.from_connection_string(stack.storage_connection, os.environ["TABLE_PREFIX"]).get_run(run_id)
    assert run.alerts["sweep_completed"].startswith("skipped_no_url")
    assert receiver.requests_seen == 0


def test_a_follow_up_poll_that_cannot_read_resource_graph_is_skipped_not_fatal(make_stack, monkeypatch):
    from arc_sweeper.resource_graph import ResourceGraph

    stack, sim, receiver = make_stack(mixed_fleet(), env=ALLOW)
    real = ResourceGraph.find_machines
    clock = stack.host.clock
    outage_ends = clock.now() + timedelta(hours=13)  # covers the whole first poll, retries included
    calls = {"n": 0, "failed": 0}

    def second_call_fails(self, subscription_ids, gate=None):
        calls["n"] += 1
        if calls["n"] > 1 and clock.now() < outage_ends:  # discovery works, then an outage
            calls["failed"] += 1
            raise ConnectionError("Resource Graph unreachable")
        return real(self, subscription_ids)

    monkeypatch.setattr(ResourceGraph, "find_machines", second_call_fails)
    stack.fire_timer()
    run_id = next(i.instance_id for i in stack.host.instances() if i.name == "sweep_orchestrator")
    assert stack.run_to_completion(run_id).runtime_status == "Completed"
    assert calls["failed"] == 3  # the activity was retried, then this poll skipped: not a failed run
    assert calls["n"] > 2  # later polls went on
    run = SweepStore.from_connection_string(stack.storage_connection, os.environ["TABLE_PREFIX"]).get_run(run_id)
    assert run.status == "completed" and run.outcome_counts["upgraded"] == 4


def test_the_daily_timer_purges_finished_orchestrations_past_retention_but_keeps_the_tables(make_stack):
    stack, sim, receiver = make_stack(mixed_fleet(), env={**ALLOW, "DRY_RUN": "true", "HISTORY_RETENTION": "P1D"})
    old = json_body(stack.post_sweep({}))["runId"]
    assert stack.run_to_completion(old).runtime_status == "Completed"
    stack.host.clock.advance_to(stack.host.clock.now() + timedelta(days=2))  # the old run is now past retention

    stack.fire_timer()

    assert stack.host.status(old) is None  # purged from the task hub
    daily = [i for i in stack.host.instances() if i.instance_id.startswith("daily-")]
    assert len(daily) == 1 and daily[0].runtime_status in ("Pending", "Running")  # not finished: kept
    store = SweepStore.from_connection_string(stack.storage_connection, os.environ["TABLE_PREFIX"])
    assert store.get_run(old).status == "completed"  # the product's record stays


def json_body(response):
    import json

    assert response.status_code == 202, response.get_body()
    return json.loads(response.get_body())
