"""The HTTP API under hostile or broken input: refused with a reason, never a bare 500, never a write it forbids."""

from __future__ import annotations

import os

from tests.e2e.fleets import SUB_A, SUB_B
from tests.e2e.support import body, guid, simple_fleet
from tests.faults.support import Expect

SCOPE = frozenset({SUB_A, SUB_B})


def posted(trial, request: dict) -> str:
    answer = trial.stack.post_sweep(request)
    assert answer.status_code == 202, answer.get_body()
    run_id = body(answer)["runId"]
    trial.stack.run_to_completion(run_id)
    return run_id


def test_the_kill_switch_cannot_be_bypassed_by_the_request(make_trial):
    trial = make_trial(simple_fleet({SUB_A: 3, SUB_B: 2}), env={"DRY_RUN": "true"})
    run_id = posted(trial, {"subscriptions": sorted(SCOPE), "dryRun": False})
    run = trial.store.get_run(run_id)
    assert run.dry_run and "DRY_RUN" in run.dry_run_reason
    trial.check(run_id, Expect(scope=SCOPE, writes=False))


def test_the_answer_hands_out_no_durable_system_key(make_trial):
    trial = make_trial(simple_fleet({SUB_A: 3}))
    answer = trial.stack.post_sweep({"subscriptions": [SUB_A]})
    text = answer.get_body().decode()
    assert answer.status_code == 202 and set(body(answer)) == {"runId", "statusUrl"}
    assert "code=" not in text and "runtime/webhooks" not in text and "systemKey" not in text
    trial.stack.run_to_completion(body(answer)["runId"])
    trial.check(body(answer)["runId"], Expect(scope=frozenset({SUB_A})))


def test_a_body_nested_100000_levels_deep(make_trial):
    trial = make_trial(simple_fleet({SUB_A: 3}))
    answer = trial.stack.post_sweep(b"[" * 100_000 + b"]" * 100_000)
    assert answer.status_code == 400 and body(answer)["error"] == "BadRequest"
    assert trial.stack.host.instances() == []
    trial.check(posted(trial, {"subscriptions": [SUB_A]}), Expect(scope=frozenset({SUB_A})))


def test_a_malformed_azure_webjobs_storage(make_trial, monkeypatch):
    trial = make_trial(simple_fleet({SUB_A: 3}))
    with monkeypatch.context() as patch:
        patch.setenv("AzureWebJobsStorage", "DefaultEndpointsProtocol=https;AccountName=nokey")
        for answer in (trial.stack.post_sweep({"subscriptions": [SUB_A]}), trial.stack.get_sweep("daily-2026-11-20")):
            assert answer.status_code == 500, answer.get_body()
            assert body(answer)["error"] == "InvalidAppSettings" and "AzureWebJobsStorage" in body(answer)["reason"]
            assert "nokey" not in answer.get_body().decode()  # a secret setting's value is never shown
        try:
            trial.stack.fire_timer()
            raise AssertionError("the timer started a sweep with a broken storage setting")
        except RuntimeError as error:
            assert "AzureWebJobsStorage" in str(error)
        assert trial.stack.host.instances() == []
    assert os.environ["AzureWebJobsStorage"] == trial.stack.storage_connection  # noqa: SIM112 - its real name
    trial.check(trial.run_daily())  # fixed: today's run id was left free


def test_a_scope_of_a_thousand_subscriptions(make_trial):
    """The API allows 1,000: two of them exist here, the 998 others are recorded as unreadable."""
    trial = make_trial(simple_fleet({SUB_A: 3, SUB_B: 2}))
    scope = sorted(SCOPE) + [guid(0x5000 + n) for n in range(998)]
    run_id = posted(trial, {"subscriptions": scope})
    run = trial.store.get_run(run_id)
    assert (run.scope_count, run.subscriptions_in_scope, run.subscriptions_skipped) == (1000, 2, 998)
    trial.check(run_id, Expect(scope=SCOPE))
