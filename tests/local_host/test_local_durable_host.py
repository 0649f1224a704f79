"""LocalDurableHost fidelity: the real azure-functions-durable handler driven through replay.

The small app below is defined here on purpose: each orchestrator exercises one rule of the
extension/DTFx protocol (sequence ids, non-determinism, retry timers, long timers, ...).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from dateutil.parser import isoparse

from local_stack.clock import VirtualClock
from local_stack.durable_host import DurableHostError, LocalDurableHost

START = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
STATE: dict = {}
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=3)
POLL_ID = "weekly-poll-singleton"

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


# ------------------------------------------------------------------ activities
@app.activity_trigger(input_name="value")
def add_one(value: int) -> int:
    return value + 1


@app.activity_trigger(input_name="payload")
async def describe(payload):
    await asyncio.sleep(0)
    return {"type": type(payload).__name__, "keys": sorted(payload)}


@app.activity_trigger(input_name="pair")
def set_flag(pair):
    STATE[pair[0]] = pair[1]
    return pair[1]


@app.activity_trigger(input_name="attempt")
def flaky(attempt):
    STATE["flaky_calls"] += 1
    if STATE["flaky_calls"] <= STATE["flaky_failures"]:
        raise ValueError(f"flaky failure {STATE['flaky_calls']}")
    return f"ok on call {STATE['flaky_calls']}"


@app.activity_trigger(input_name="message")
def explode(message):
    raise RuntimeError(message)


@app.activity_trigger(input_name="ms")
def sleep_ms(ms):
    time.sleep(ms / 1000)
    return ms


@app.activity_trigger(input_name="index")
def probe(index):
    STATE["probes"].append(index)
    return {"poll": index}


# ------------------------------------------------------------------ orchestrators
@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    value = context.get_input()
    for _ in range(3):
        value = yield context.call_activity("add_one", value)
    return value


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    # Later tasks sleep less, so completions arrive out of order.
    results = yield context.task_all([context.call_activity("sleep_ms", 2 * (count - i)) for i in range(count)])
    return results


@app.orchestration_trigger(context_name="context")
def typed_input(context: df.DurableOrchestrationContext):
    described = yield context.call_activity("describe", context.get_input())
    try:
        yield context.call_activity("no_such_activity", 1)
        missing = None
    except Exception as exc:  # noqa: BLE001
        missing = str(exc)
    return {"described": described, "missing": missing}


@app.orchestration_trigger(context_name="context")
def drifting(context: df.DurableOrchestrationContext):
    # Non-deterministic: the activity name comes from module state that the activity itself changes.
    yield context.call_activity(STATE["drift_activity"], ["drift_activity", "add_one"])
    yield context.call_activity("add_one", 1)
    return "never"


@app.orchestration_trigger(context_name="context")
def vanishing(context: df.DurableOrchestrationContext):
    if STATE.get("vanish"):
        return "took a shortcut on replay"
    yield context.call_activity("set_flag", ["vanish", True])
    return "done"


@app.orchestration_trigger(context_name="context")
def long_sleep(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(days=context.get_input()))
    return context.current_utc_datetime.isoformat()


@app.orchestration_trigger(context_name="context")
def unsplit_timer(context: df.DurableOrchestrationContext):
    context._maximum_short_timer_duration = None  # defeat the SDK's own splitting: one 8-day timer
    yield context.create_timer(context.current_utc_datetime + timedelta(days=8))
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input()
    context.set_custom_status({"n": n})
    yield context.call_activity("add_one", n)
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    if n < 9:
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    try:
        return {"result": (yield context.call_activity_with_retry("flaky", RETRY, "x"))}
    except Exception as exc:  # noqa: BLE001
        return {"error": str(exc)}


@app.orchestration_trigger(context_name="context")
def unhandled(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", "kaboom")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    default_id = yield context.call_sub_orchestrator("chain", 10)
    explicit_id = yield context.call_sub_orchestrator("chain", 20, instance_id=f"{context.instance_id}-child")
    try:
        yield context.call_sub_orchestrator("child_fails", "boom")
        failure = None
    except Exception as exc:  # noqa: BLE001
        failure = str(exc)
    return {"default": default_id, "explicit": explicit_id, "failure": failure}


@app.orchestration_trigger(context_name="context")
def parent_with_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1_000, max_number_of_attempts=2)
    try:
        yield context.call_sub_orchestrator_with_retry("child_fails", options, "again")
    except Exception as exc:  # noqa: BLE001
        return str(exc)


@app.orchestration_trigger(context_name="context")
def child_fails(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", context.get_input())


@app.orchestration_trigger(context_name="context")
def all_then_more(context: df.DurableOrchestrationContext):
    try:
        yield context.task_all([context.call_activity("explode", "fast"), context.call_activity("sleep_ms", 300)])
    except Exception:  # noqa: BLE001 - task_all fails fast in the SDK
        pass
    yield context.call_activity("add_one", 0)
    return "after"


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    decision = yield context.wait_for_external_event("Approval")
    context.set_custom_status({"stage": "decided"})
    return decision


@app.orchestration_trigger(context_name="context")
def approval_with_timeout(context: df.DurableOrchestrationContext):
    deadline = context.create_timer(context.current_utc_datetime + timedelta(hours=24))
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, deadline])
    if winner == event:
        deadline.cancel()
        yield context.call_activity("add_one", 1)
        return "approved"
    return "timed out"


@app.orchestration_trigger(context_name="context")
def collect_ticks(context: df.DurableOrchestrationContext):
    received = []
    for _ in range(context.get_input()):
        received.append((yield context.wait_for_external_event("tick")))
    return received


@app.orchestration_trigger(context_name="context")
def weekly_poll(context: df.DurableOrchestrationContext):
    seen = []
    for index in range(context.get_input()):
        result = yield context.call_activity("probe", index)
        seen.append(result["poll"])
        context.set_custom_status({"polls": index + 1})
        yield context.create_timer(context.current_utc_datetime + timedelta(hours=12))
    return seen


# ------------------------------------------------------------------ client functions
@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], req.params.get("instanceId"), req.get_json())
    return client.create_check_status_response(req, instance_id)


@app.route(route="status/{instanceId}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def http_status(req: func.HttpRequest, client) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instanceId"])
    if not status:
        return func.HttpResponse("not found", status_code=404)
    return func.HttpResponse(json.dumps(status.to_json()), status_code=200, mimetype="application/json")


@app.route(route="approve/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_approve(req: func.HttpRequest, client) -> func.HttpResponse:
    await client.raise_event(req.route_params["instanceId"], "Approval", req.get_json())
    return func.HttpResponse("raised", status_code=202)


@app.timer_trigger(schedule="0 0 */12 * * *", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def poll_timer(timer: func.TimerRequest, client) -> None:
    status = await client.get_status(POLL_ID)
    if status and status.runtime_status in (
        df.OrchestrationRuntimeStatus.Running,
        df.OrchestrationRuntimeStatus.Pending,
    ):
        STATE["timer_skipped"] += 1
        return
    await client.start_new("weekly_poll", POLL_ID, 14)


# ------------------------------------------------------------------ helpers
@pytest.fixture(autouse=True)
def fresh_state():
    STATE.clear()
    STATE.update(flaky_calls=0, flaky_failures=0, drift_activity="set_flag", probes=[], timer_skipped=0)


@pytest.fixture
def make_host():
    hosts = []

    def make(**kwargs) -> LocalDurableHost:
        kwargs.setdefault("clock", VirtualClock(START))
        host = LocalDurableHost(app, **kwargs)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()


def events(history, event_type):
    return [e for e in history if e["EventType"] == event_type]


def timers_with_episode_time(history):
    """(TimerCreated event, timestamp of the OrchestratorStarted of its episode) pairs."""
    pairs, started = [], None
    for event in history:
        if event["EventType"] == 12:
            started = isoparse(event["Timestamp"])
        elif event["EventType"] == 10:
            pairs.append((event, started))
    return pairs


def request(method, path, route_params, body=None, params=None):
    return func.HttpRequest(
        method,
        f"http://localhost:7071/api/{path}",
        route_params=route_params,
        params=params or {},
        body=b"" if body is None else json.dumps(body).encode(),
    )


# ------------------------------------------------------------------ tests
def test_context_json_matches_the_extension_protocol(make_host):
    host = make_host()
    bodies = []
    handler = host._orchestrators["chain"]
    host._orchestrators["chain"] = lambda ctx: bodies.append(json.loads(ctx.body)) or handler(ctx)
    instance_id = host.start_new("chain", "protocol", 1)
    assert host.run_until_complete(instance_id, timeout_s=5).output == 4

    first, second = bodies[0], bodies[1]
    assert set(first) == {
        "history",
        "input",
        "instanceId",
        "isReplaying",
        "parentInstanceId",
        "upperSchemaVersion",
        "upperSchemaVersionNew",
        "longRunningTimerIntervalDuration",
        "maximumShortTimerDuration",
        "defaultHttpAsyncRequestSleepTimeMillseconds",
    }
    assert (first["upperSchemaVersion"], first["upperSchemaVersionNew"]) == (1, 2)
    assert first["longRunningTimerIntervalDuration"] == "3.00:00:00"
    assert first["maximumShortTimerDuration"] == "6.00:00:00"
    assert first["defaultHttpAsyncRequestSleepTimeMillseconds"] == 30000
    assert first["input"] == "1" and first["instanceId"] == "protocol" and first["parentInstanceId"] is None
    assert [e["EventType"] for e in first["history"]] == [12, 0]
    assert first["history"][1]["Version"] == "" and first["history"][1]["Name"] == "chain"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", e["Timestamp"]) for e in first["history"])
    # Second episode: the past replayed with IsPlayed=true, then a new OrchestratorStarted and the result.
    assert [e["EventType"] for e in second["history"]] == [12, 0, 4, 13, 12, 5]
    assert [e["IsPlayed"] for e in second["history"]] == [True, True, True, True, False, False]
    assert second["history"][2]["Name"] == "add_one" and second["history"][2]["EventId"] == 0
    assert second["history"][5]["TaskScheduledId"] == 0 and second["history"][5]["Result"] == "2"


def test_activity_chain_completes(make_host):
    host = make_host()
    info = host.run_until_complete(host.start_new("chain", input=5), timeout_s=5)
    assert info.runtime_status == "Completed" and info.output == 8
    assert info.episodes == 4 and info.replays == 3
    assert [e["Name"] for e in events(host.history(info.instance_id), 4)] == ["add_one"] * 3


def test_fan_out_fan_in_with_batches_and_out_of_order_completions(make_host):
    host = make_host(max_events_per_episode=8, shuffle_seed=7)
    info = host.run_until_complete(host.start_new("fan_out", input=40), timeout_s=10)
    assert info.runtime_status == "Completed"
    assert info.output == [2 * (40 - i) for i in range(40)]  # task order, whatever the completion order
    history = host.history(info.instance_id)
    assert [e["EventId"] for e in events(history, 4)] == list(range(40))
    completed = [e["TaskScheduledId"] for e in events(history, 5)]
    assert sorted(completed) == list(range(40)) and completed != list(range(40))
    # Azure Storage delivers at most N messages per episode; the host must honour the batch size.
    batch, batches = 0, []
    for event in history:
        if event["EventType"] == 12:
            batches.append(batch)
            batch = 0
        elif event["EventType"] == 5:
            batch += 1
    batches.append(batch)
    assert max(batches) <= 8 and info.episodes >= 6


@pytest.mark.parametrize("seed", [None, 3])
def test_messages_are_delivered_in_batches_and_optionally_shuffled(make_host, seed):
    host = make_host(max_events_per_episode=8, shuffle_seed=seed)
    instance_id = host.start_new("collect_ticks", input=20)
    for tick in range(20):  # queued before the first episode: 21 messages including ExecutionStarted
        host.raise_event(instance_id, "tick", tick)
    info = host.run_until_complete(instance_id, timeout_s=5)
    assert info.episodes == 3  # 8 + 8 + 5 messages
    received = [int(text) for text in info.output]  # event payloads arrive as JSON text (see below)
    assert sorted(received) == list(range(20))
    assert (received == list(range(20))) == (seed is None)  # FIFO unless shuffled
    first_episode = host.history(instance_id)[:9]
    assert [e["EventType"] for e in first_episode] == [12, 0] + [15] * 7


def test_activity_input_goes_through_the_worker_converter_and_unknown_activity_fails(make_host):
    host = make_host()
    info = host.run_until_complete(host.start_new("typed_input", input={"b": 1, "a": [1, 2]}), timeout_s=5)
    assert info.output["described"] == {"type": "dict", "keys": ["a", "b"]}  # async activity awaited
    assert info.output["missing"].startswith(
        "Activity function 'no_such_activity' failed: The function 'no_such_activity' doesn't exist"
    )
    assert "'add_one'" in info.output["missing"]  # lists the known activity functions


@pytest.mark.parametrize(
    "orchestrator, fragments",
    [
        ("drifting", ["sequence ID 0", "named 'set_flag'", "instead scheduled an activity task named 'add_one'"]),
        ("vanishing", ["sequence ID 0", "named 'set_flag'", "hasn't (yet?) scheduled this task"]),
    ],
)
def test_non_determinism_fails_the_instance(make_host, orchestrator, fragments):
    host = make_host()
    info = host.run_until_complete(host.start_new(orchestrator), timeout_s=5)
    assert info.runtime_status == "Failed"
    assert info.error.startswith("Non-Deterministic workflow detected")
    for fragment in fragments:
        assert fragment in info.error
    assert info.output == info.error
    assert len(events(host.history(info.instance_id), 4)) == 1  # nothing more was scheduled


def test_eight_day_timer_is_split_and_fires_on_time(make_host):
    clock = VirtualClock(START)
    host = make_host(clock=clock)
    wall = time.monotonic()
    info = host.run_until_complete(host.start_new("long_sleep", input=8), timeout_s=5)
    assert time.monotonic() - wall < 1.0
    assert info.runtime_status == "Completed"
    pairs = timers_with_episode_time(host.history(info.instance_id))
    assert len(pairs) == 2
    for timer, episode_time in pairs:
        assert isoparse(timer["FireAt"]) - episode_time <= timedelta(days=6)
    first_fire, final_fire = (isoparse(t["FireAt"]) for t, _ in pairs)
    created_at = pairs[0][1]
    assert first_fire == created_at + timedelta(days=3)
    assert final_fire == created_at + timedelta(days=8)
    assert isoparse(info.output) >= final_fire and clock.now() >= final_fire
    assert clock.now() - final_fire < timedelta(seconds=5)


def test_single_timer_longer_than_six_days_is_rejected(make_host):
    host = make_host()
    info = host.run_until_complete(host.start_new("unsplit_timer"), timeout_s=5)
    assert info.runtime_status == "Failed"
    assert "maximum of 6 days" in info.error and "sequence ID 0" in info.error
    assert events(host.history(info.instance_id), 10) == []


def test_continue_as_new_starts_fresh_histories(make_host):
    clock = VirtualClock(START)
    seen_executions = set()
    host = make_host(clock=clock, on_progress=lambda iid, status: seen_executions.add(host.status(iid).execution_id))
    instance_id = host.start_new("counter", "eternal", 0)
    first_execution = host.status(instance_id).execution_id
    info = host.run_until_complete(instance_id, timeout_s=10)
    assert info.runtime_status == "Completed" and info.output == 9
    assert info.executions == 10 and len(seen_executions) == 10
    assert info.execution_id != first_execution
    assert info.input == "9"  # input replaced (JSON text, as the SDK's continue_as_new sends it)
    assert info.custom_status == {"n": 9}
    assert info.max_history_length <= 14  # bounded: each execution starts from an empty history
    history = host.history(instance_id)
    assert history[1]["EventType"] == 0 and history[1]["OrchestrationInstance"]["ExecutionId"] == info.execution_id
    assert clock.now() >= START + timedelta(hours=10)


def test_retry_succeeds_on_third_attempt_with_interval_timers(make_host):
    STATE["flaky_failures"] = 2
    host = make_host()
    info = host.run_until_complete(host.start_new("retrying"), timeout_s=5)
    assert info.output == {"result": "ok on call 3"} and STATE["flaky_calls"] == 3
    history = host.history(info.instance_id)
    assert [e["EventId"] for e in events(history, 4)] == [0, 2, 4]
    pairs = timers_with_episode_time(history)
    assert [t["EventId"] for t, _ in pairs] == [1, 3]
    assert all(isoparse(t["FireAt"]) - started == timedelta(seconds=60) for t, started in pairs)
    assert [r.split(": ", 1)[1] for r in host.failed_activities()] == [
        "ValueError: flaky failure 1",
        "ValueError: flaky failure 2",
    ]


def test_retry_exhausted_adds_extra_timer_and_surfaces_failure(make_host):
    STATE["flaky_failures"] = 99
    clock = VirtualClock(START)
    host = make_host(clock=clock)
    info = host.run_until_complete(host.start_new("retrying"), timeout_s=5)
    assert STATE["flaky_calls"] == 3
    assert info.output["error"].startswith("Activity function 'flaky' failed: ValueError: flaky failure 3")
    history = host.history(info.instance_id)
    assert [e["EventId"] for e in events(history, 4)] == [0, 2, 4]
    assert [t["EventId"] for t, _ in timers_with_episode_time(history)] == [1, 3, 5]  # one after the last attempt
    assert len(events(history, 11)) == 3
    assert clock.now() >= START + timedelta(minutes=3)


def test_unhandled_activity_failure_fails_the_orchestration(make_host):
    host = make_host()
    info = host.run_until_complete(host.start_new("unhandled"), timeout_s=5)
    assert info.runtime_status == "Failed"
    assert info.error.startswith(
        "Orchestrator function 'unhandled' failed: Activity function 'explode' failed: RuntimeError: kaboom"
    )


def test_sub_orchestrations_complete_and_fail(make_host):
    host = make_host()
    info = host.run_until_complete(host.start_new("parent", "p1"), timeout_s=5)
    assert info.runtime_status == "Completed"
    assert info.output["default"] == 13 and info.output["explicit"] == 23
    assert "Orchestrator function 'child_fails' failed" in info.output["failure"]
    assert "RuntimeError: boom" in info.output["failure"]
    created = events(host.history("p1"), 7)
    assert [e["InstanceId"] for e in created] == [f"{info.execution_id}:0", "p1-child", f"{info.execution_id}:2"]
    default_child = host.status(f"{info.execution_id}:0")
    assert default_child.runtime_status == "Completed" and default_child.parent_instance_id == "p1"
    assert default_child.input == "10"
    assert host.status("p1-child").output == 23
    assert host.status(f"{info.execution_id}:2").runtime_status == "Failed"


def test_sub_orchestration_retry_uses_a_new_default_id_per_attempt(make_host):
    host = make_host()
    info = host.run_until_complete(host.start_new("parent_with_retry"), timeout_s=5)
    assert "Orchestrator function 'child_fails' failed" in info.output
    history = host.history(info.instance_id)
    assert [e["InstanceId"] for e in events(history, 7)] == [f"{info.execution_id}:0", f"{info.execution_id}:2"]
    assert [t["EventId"] for t, _ in timers_with_episode_time(history)] == [1, 3]


def test_when_all_waits_for_every_child_before_follow_up_work(make_host):
    host = make_host()
    info = host.run_until_complete(host.start_new("all_then_more"), timeout_s=5)
    assert info.output == "after"
    history = host.history(info.instance_id)
    follow_up = next(i for i, e in enumerate(history) if e["EventType"] == 4 and e["EventId"] == 2)
    slow_done = next(i for i, e in enumerate(history) if e["EventType"] == 5 and e["TaskScheduledId"] == 1)
    fast_failed = next(i for i, e in enumerate(history) if e["EventType"] == 6 and e["TaskScheduledId"] == 0)
    assert fast_failed < slow_done < follow_up


def test_http_starter_status_and_conflicting_start(make_host):
    host = make_host()
    response = host.invoke(
        "http_start",
        req=request("POST", "orchestrators/chain", {"name": "chain"}, body=1, params={"instanceId": "http-1"}),
    )
    assert response.status_code == 202
    payload = json.loads(response.get_body())
    assert payload["id"] == "http-1"
    assert response.headers["Location"] == payload["statusQueryGetUri"]
    assert payload["statusQueryGetUri"].startswith(
        "http://localhost:7071/runtime/webhooks/durabletask/instances/http-1?"
    )

    with pytest.raises(Exception, match="already exists"):  # Pending counts as running
        host.invoke(
            "http_start",
            req=request("POST", "orchestrators/chain", {"name": "chain"}, body=1, params={"instanceId": "http-1"}),
        )
    with pytest.raises(Exception, match="doesn't exist"):
        host.invoke("http_start", req=request("POST", "orchestrators/nope", {"name": "nope"}, body=1))

    pending = json.loads(
        host.invoke("http_status", req=request("GET", "status/http-1", {"instanceId": "http-1"})).get_body()
    )
    assert pending["runtimeStatus"] == "Pending" and pending["input"] == "1"
    assert host.invoke("http_status", req=request("GET", "status/nobody", {"instanceId": "nobody"})).status_code == 404

    assert host.run_until_complete("http-1", timeout_s=5).output == 4
    done = json.loads(
        host.invoke("http_status", req=request("GET", "status/http-1", {"instanceId": "http-1"})).get_body()
    )
    assert done["runtimeStatus"] == "Completed" and done["output"] == 4 and done["name"] == "chain"
    # Completed instances may be overwritten (OverridableExistingInstanceStates = NonRunningStates).
    again = host.invoke(
        "http_start",
        req=request("POST", "orchestrators/chain", {"name": "chain"}, body=10, params={"instanceId": "http-1"}),
    )
    assert again.status_code == 202 and host.run_until_complete("http-1", timeout_s=5).output == 13


def test_custom_status_and_external_event_through_the_client(make_host):
    host = make_host()
    start = host.invoke("http_start", req=request("POST", "orchestrators/approval", {"name": "approval"}, body={}))
    instance_id = json.loads(start.get_body())["id"]
    host.run_until_idle(timeout_s=5)
    running = json.loads(host.invoke("http_status", req=request("GET", "s", {"instanceId": instance_id})).get_body())
    assert running["runtimeStatus"] == "Running" and running["customStatus"] == {"stage": "waiting"}

    raised = host.invoke("http_approve", req=request("POST", "a", {"instanceId": instance_id}, body={"ok": True}))
    assert raised.status_code == 202
    info = host.run_until_complete(instance_id, timeout_s=5)
    assert info.custom_status == {"stage": "decided"}
    # The SDK client json.dumps the payload before aiohttp encodes it again, so the orchestrator
    # receives JSON text, as on Azure (azure-functions-durable-python#295).
    assert info.output == '{"ok": true}'
    with pytest.raises(Exception, match="is gone"):
        host.invoke("http_approve", req=request("POST", "a", {"instanceId": instance_id}, body={"ok": False}))


def test_task_any_with_timeout_timer(make_host):
    clock = VirtualClock(START)
    host = make_host(clock=clock)
    timed_out = host.run_until_complete(host.start_new("approval_with_timeout"), timeout_s=5)
    assert timed_out.output == "timed out" and clock.now() >= START + timedelta(hours=24)

    clock = VirtualClock(START)
    host = make_host(clock=clock)
    instance_id = host.start_new("approval_with_timeout")
    host.raise_event(instance_id, "Approval", "yes")
    assert host.run_until_complete(instance_id, timeout_s=5).output == "approved"
    history = host.history(instance_id)
    assert [(e["EventType"], e["EventId"]) for e in history if e["EventType"] in (4, 10)] == [(10, 0), (4, 1)]
    host.run_until_idle(timeout_s=5)  # the cancelled timer of a finished instance is dropped, not waited for
    assert clock.now() < START + timedelta(hours=1)


def test_terminate_stops_an_instance(make_host):
    host = make_host()
    instance_id = host.start_new("approval")
    host.run_until_idle(timeout_s=5)
    host.terminate(instance_id, "operator said stop")
    info = host.status(instance_id)
    assert info.runtime_status == "Terminated" and info.output == "operator said stop"
    with pytest.raises(DurableHostError):
        host.raise_event(instance_id, "Approval", True)
    host.run_until_idle(timeout_s=1)
    assert host.status(instance_id).runtime_status == "Terminated"
    with host.serving_client():  # any SDK client built inside the block talks to the host
        client = df.DurableOrchestrationClient(host.client_binding())
        listed = asyncio.run(client.get_status_all())
        purged = asyncio.run(client.purge_instance_history(instance_id))
        gone = asyncio.run(client.get_status(instance_id))
    assert [s.instance_id for s in listed] == [instance_id]
    assert listed[0].runtime_status == df.OrchestrationRuntimeStatus.Terminated
    assert purged.instances_deleted == 1 and not gone and host.status(instance_id) is None


def test_timer_trigger_starts_a_singleton_through_the_client(make_host):
    host = make_host()
    assert host.invoke("poll_timer", timer=TimerRequest()) is None
    assert host.status(POLL_ID).runtime_status == "Pending" and host.status(POLL_ID).input == "14"
    host.invoke("poll_timer", timer=TimerRequest(past_due=True))  # second tick sees it running
    assert STATE["timer_skipped"] == 1 and len(host.instances()) == 1


def test_week_of_twelve_hour_polls_runs_in_well_under_a_second(make_host):
    clock = VirtualClock(START)
    progress = []
    host = make_host(clock=clock, on_progress=lambda iid, status: progress.append((iid, status)))
    host.invoke("poll_timer", timer=TimerRequest())
    wall = time.monotonic()
    info = host.run_until_complete(POLL_ID, timeout_s=10)
    assert time.monotonic() - wall < 1.0
    assert info.output == list(range(14)) and STATE["probes"] == list(range(14))
    assert clock.now() >= START + timedelta(days=7)
    assert info.custom_status == {"polls": 14}
    assert progress[-1] == (POLL_ID, {"polls": 14}) and len(progress) == info.episodes
    host.run_until_idle(timeout_s=1)  # nothing left: no live timers, no work
