"""Secrets never leak; bad app settings fail fast, naming the setting."""

from __future__ import annotations

import json
import logging
import os

import pytest
from azure.data.tables import TableServiceClient

from arc_sweeper.messages import SweepRequest
from local_stack.alert_receiver import FAKE_SIGNATURE
from local_stack.azurite import DEVSTORE_KEY
from tests.e2e.fleets import SUB_A, SUB_B, SUB_DISABLED, SUB_FORBIDDEN, SUB_UNREADABLE, mixed_fleet
from tests.e2e.support import QUICK_FOLLOW_UP, body, simple_fleet, sweep_instances

ALLOW = ",".join([SUB_A, SUB_B, SUB_FORBIDDEN, SUB_UNREADABLE, SUB_DISABLED])


def all_table_text(stack) -> str:
    service = TableServiceClient.from_connection_string(stack.storage_connection)
    prefix = os.environ["TABLE_PREFIX"]
    tables = [t.name for t in service.list_tables() if t.name.startswith(prefix)]
    assert sorted(tables) == sorted(
        f"{prefix}{s}"
        for s in ("runs", "subscriptions", "machines", "extensions", "fleet", "leases", "releases", "rings")
    )
    entities = [e for t in tables for e in service.get_table_client(t).list_entities()]
    assert len(entities) > 30
    return json.dumps(entities, default=str)


def test_the_webhook_signature_never_leaks(make_stack, caplog):
    caplog.set_level(logging.DEBUG)
    stack, sim, receiver = make_stack(mixed_fleet(), env={"SUBSCRIPTION_ALLOW_LIST": ALLOW, **QUICK_FOLLOW_UP})
    secret = FAKE_SIGNATURE
    assert f"sig={secret}" in os.environ["LOGIC_APP_WEBHOOK_URL"]
    receiver.fail_next(1, status=503, retry_after_s=0.1)  # the retry is logged too

    posted = stack.post_sweep({"subscriptions": [SUB_A, SUB_B, SUB_FORBIDDEN, SUB_UNREADABLE]})
    run_id = body(posted)["runId"]
    final = stack.run_to_completion(run_id)
    assert final.runtime_status == "Completed", final.error
    responses = [posted, stack.get_sweep(run_id), stack.post_sweep(b"{bad"), stack.get_sweep("http-0-unknown")]
    assert [r.status_code for r in responses] == [202, 200, 400, 404]

    # Alerts were delivered (after one retry) with the signature, which was the point.
    assert receiver.requests_seen == 3 and [p["kind"] for p in receiver.payloads] == [
        "sweep_completed",
        "follow_up_completed",
    ]
    records = caplog.records
    assert any("retrying" in r.getMessage() and "503" in r.getMessage() for r in records)
    assert any(r.name == "urllib3.connectionpool" and "/workflows/" in r.getMessage() for r in records)

    formatter = logging.Formatter()
    logged = "\n".join(formatter.format(r) for r in records)
    assert len(records) > 100
    places = {
        "log records": logged,
        "table rows": all_table_text(stack),
        "HTTP responses": "\n".join(r.get_body().decode() + json.dumps(dict(r.headers)) for r in responses),
        "alert payloads": json.dumps(receiver.payloads),
        "orchestration state": json.dumps([(i.input, i.output, i.custom_status) for i in stack.host.instances()]),
    }
    for place, text in places.items():
        assert secret not in text, place
        assert "sig=" not in text, place
        assert DEVSTORE_KEY not in text, place


def test_bad_settings_fail_fast_naming_the_setting(make_stack):
    leaky_webhook = "http://alerts.example.com/workflows/x/invoke?sig=TOPSECRET-fake"
    stack, sim, receiver = make_stack(
        simple_fleet({SUB_A: 2}), env={"SWEEP_SCHEDULE": "not a cron", "LOGIC_APP_WEBHOOK_URL": leaky_webhook}
    )

    # The timer refuses to start today's sweep, so the day's run id stays free for a fixed app.
    with pytest.raises(RuntimeError) as refused:
        stack.fire_timer()
    message = str(refused.value)
    assert "SWEEP_SCHEDULE='not a cron': expected 6 NCRONTAB fields" in message
    assert "LOGIC_APP_WEBHOOK_URL=" in message and "http is allowed only for a loopback host" in message
    assert "TOPSECRET" not in message and "/workflows/" not in message
    assert stack.host.instances() == []

    # The HTTP API answers 500 with the same reasons (still 400 for a bad body).
    for response in (stack.post_sweep({"subscriptions": [SUB_A]}), stack.get_sweep("http-20261120T090000Z-0badf00d")):
        assert response.status_code == 500
        answer = body(response)
        assert answer["error"] == "InvalidAppSettings"
        assert "SWEEP_SCHEDULE='not a cron'" in answer["reason"] and "LOGIC_APP_WEBHOOK_URL=" in answer["reason"]
        assert "TOPSECRET" not in response.get_body().decode()
    assert stack.post_sweep(b"[]").status_code == 400
    assert stack.host.instances() == [] and sim.requests == []

    # A sweep that starts anyway (the settings changed under it) fails at its first activity,
    # and its error names the setting, not the failure recording it.
    run_id = "daily-2026-11-20"
    stack.host.start_new("sweep_orchestrator", run_id, SweepRequest(run_id, "timer").to_json())
    final = stack.run_to_completion(run_id)
    assert final.runtime_status == "Failed"
    assert "Activity function 'start_run' failed: SettingsError" in final.error
    assert "SWEEP_SCHEDULE='not a cron'" in final.error and "TOPSECRET" not in final.error
    assert final.custom_status == {"runId": run_id, "phase": "failed"}
    assert [i.instance_id for i in sweep_instances(stack)] == [run_id]
    assert sim.requests == [] and receiver.requests_seen == 0
