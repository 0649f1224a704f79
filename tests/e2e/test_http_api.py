"""POST/GET /api/sweeps through real func.HttpRequest objects, the local host and Azurite."""

from __future__ import annotations

import json

import pytest

from local_stack.alert_receiver import FAKE_SIGNATURE
from local_stack.azurite import DEVSTORE_KEY
from tests.e2e.fleets import SUB_A, SUB_B
from tests.e2e.support import (
    QUICK_FOLLOW_UP,
    body,
    pump_until_waiting,
    simple_fleet,
    store_of,
    sweep_instances,
)

SUB_C = "cccccccc-1111-4000-8000-000000000003"


def assert_no_secrets(response) -> None:
    text = response.get_body().decode()
    assert FAKE_SIGNATURE not in text and "sig=" not in text
    assert DEVSTORE_KEY not in text and "AccountKey" not in text
    for value in response.headers.values():
        assert FAKE_SIGNATURE not in value and DEVSTORE_KEY not in value


@pytest.fixture
def api(make_stack):
    stack, sim, receiver = make_stack(simple_fleet({SUB_A: 3, SUB_B: 2, SUB_C: 1}), env=QUICK_FOLLOW_UP)
    return stack, sim


def test_post_answers_202_with_run_id_and_keyless_status_url_only(api):
    stack, sim = api
    response = stack.post_sweep(
        {"subscriptions": [SUB_A.upper()], "dryRun": False, "followUpWindow": "P2D", "pollInterval": "12h"}
    )
    assert response.status_code == 202
    assert_no_secrets(response)
    answer = body(response)
    run_id = answer["runId"]
    assert run_id.startswith("http-")
    assert answer["statusUrl"] == f"/api/sweeps/{run_id}" == response.headers["Location"]
    # No Durable management URLs: they carry the extension's system key (start, terminate, purge anything).
    assert set(answer) == {"runId", "statusUrl"} and "code=" not in response.get_body().decode()
    # The orchestration is started with the parsed request, nothing more.
    [instance] = sweep_instances(stack)
    assert instance.instance_id == run_id and instance.runtime_status == "Pending"
    request = json.loads(instance.input)
    assert (request["subscriptions"], request["dry_run"], request["follow_up_window"], request["poll_interval"]) == (
        [SUB_A],
        False,
        "P2D",
        "PT12H",
    )

    final = stack.run_to_completion(run_id)
    assert final.runtime_status == "Completed", final.error
    run = store_of(stack).get_run(run_id)
    assert (run.scope_count, run.trigger, run.follow_up_window, run.poll_interval) == (1, "http", "P2D", "PT12H")
    assert run.result_counts == {"enabled": 3}
    assert {r.path.split("/")[2] for r in sim.patches()} == {SUB_A}


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"subscriptions": ["' + SUB_A.encode() + b'"], "force": true}', "unknown field(s) force"),
        (b'{"subscriptions": ["not-a-guid"]}', "subscriptions must be GUIDs, got 'not-a-guid'"),
        (b'{"subscriptions": "' + SUB_A.encode() + b'"}', "subscriptions must be a list"),
        (b'{"followUpWindow": "P1M"}', "followUpWindow: years and months are ambiguous"),
        (b'{"pollInterval": "soon"}', "pollInterval: expected ISO 8601"),
        (b'{"followUpWindow": 7}', "followUpWindow must be a duration string"),
        (b'{"dryRun": "yes"}', "dryRun must be true or false"),
    ],
)
def test_post_refuses_a_bad_body_with_the_reason_and_starts_nothing(api, payload, reason):
    stack, sim = api
    response = stack.post_sweep(payload)
    assert response.status_code == 400
    answer = body(response)
    assert answer["error"] == "BadRequest"
    assert reason in answer["reason"]
    assert_no_secrets(response)
    assert stack.host.instances() == []
    assert sim.requests == []


def test_post_conflicts_with_a_sweep_still_enabling_an_overlapping_scope(api, monkeypatch):
    stack, sim = api
    first = stack.post_sweep({"subscriptions": [SUB_A, SUB_B]})
    assert first.status_code == 202
    first_id = body(first)["runId"]

    # Not pumped at all: the first sweep has not even started its first activity.
    conflict = stack.post_sweep({"subscriptions": [SUB_B.upper()]})
    assert conflict.status_code == 409
    assert body(conflict)["runId"] == first_id and body(conflict)["error"] == "Conflict"
    assert_no_secrets(conflict)
    everything = stack.post_sweep(b"")  # no subscriptions: every visible one, which overlaps
    assert (everything.status_code, body(everything)["runId"]) == (409, first_id)

    disjoint = stack.post_sweep({"subscriptions": [SUB_C]})
    assert disjoint.status_code == 202
    second_id = body(disjoint)["runId"]
    assert second_id != first_id
    assert {i.instance_id for i in sweep_instances(stack)} == {first_id, second_id}

    # Enabling is over once the sweep follows its cohort: an overlapping sweep may start.
    pump_until_waiting(stack, monkeypatch, first_id)
    assert store_of(stack).get_run(first_id).status == "following"
    assert stack.host.status(first_id).runtime_status == "Running"
    overlapping = stack.post_sweep({"subscriptions": [SUB_A]})
    assert overlapping.status_code == 202
    third_id = body(overlapping)["runId"]
    for run_id in (first_id, second_id, third_id):
        assert stack.run_to_completion(run_id).runtime_status == "Completed"
    # Each sweep PATCHed its own scope once; the third found SUB_A already enabled.
    assert sorted(r.path.split("/")[2] for r in sim.patches()) == [SUB_A] * 3 + [SUB_B] * 2 + [SUB_C]


def test_get_returns_the_table_summary_with_the_orchestration_status(api, monkeypatch):
    stack, sim = api
    run_id = body(stack.post_sweep({"subscriptions": [SUB_A, SUB_B]}))["runId"]

    pending = stack.get_sweep(run_id)
    assert pending.status_code == 200
    answer = body(pending)
    assert (answer["runId"], answer["status"], answer["orchestration"]["runtimeStatus"]) == (
        run_id,
        "running",
        "Pending",
    )

    pump_until_waiting(stack, monkeypatch, run_id)
    running = stack.get_sweep(run_id)
    assert running.status_code == 200
    assert_no_secrets(running)
    answer = body(running)
    assert answer["status"] == "following"
    assert answer["orchestration"]["runtimeStatus"] == "Running"
    assert answer["orchestration"]["customStatus"]["phase"] == "following"
    assert answer["orchestration"]["customStatus"]["cohort"] == 5
    run = answer["run"]
    assert (run["run_id"], run["trigger"], run["phase"], run["cohort_size"]) == (run_id, "http", "following", 5)
    assert run["scope_count"] == 2 and answer["scope"] == sorted([SUB_A, SUB_B])
    assert run["result_counts"] == {"enabled": 5} and run["machines_seen"] == 5
    assert run["alerts"]["sweep_completed"].startswith("delivered")
    assert answer["orchestration"]["createdTime"] and answer["orchestration"]["lastUpdatedTime"]

    stack.run_to_completion(run_id)
    done = stack.get_sweep(run_id)
    assert done.status_code == 200
    assert_no_secrets(done)
    answer = body(done)
    assert (answer["status"], answer["orchestration"]["runtimeStatus"]) == ("completed", "Completed")
    assert answer["orchestration"]["customStatus"]["outcomes"] == {"upgraded": 5}
    assert answer["run"]["outcome_counts"] == {"upgraded": 5} and answer["run"]["ended_at"]
    assert set(answer["run"]["alerts"]) == {"sweep_completed", "follow_up_completed"}


@pytest.mark.parametrize(
    "run_id, status",
    [
        ("http-20261120T090000Z-0badf00d", 404),
        ("daily-2026-11-20", 404),
        ("not a run", 400),
        ("HTTP-20261120", 400),
        ("http-" + "x" * 80, 400),
        ("http-2026'or'1'eq'1", 400),
    ],
)
def test_get_unknown_or_malformed_run_id(api, run_id, status):
    stack, sim = api
    stack.post_sweep({"subscriptions": [SUB_C]})  # tables exist, another run is known
    response = stack.get_sweep(run_id)
    assert response.status_code == status
    answer = body(response)
    assert answer["error"] == {404: "NotFound", 400: "BadRequest"}[status]
    assert_no_secrets(response)
