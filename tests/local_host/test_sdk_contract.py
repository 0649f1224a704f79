"""The SDK internals local_stack/durable_host/sdk_seam.py relies on are still there and still behave.

None of these are public API, so an azure-functions or azure-functions-durable upgrade may
change them without notice. Each failure names the internal and what changed; fix the seam
(only the seam), then update this file and ``sdk_seam.WRITTEN_FOR``.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import importlib.metadata
import inspect
import json
from datetime import UTC, datetime
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest

from local_stack.durable_host import history as h
from local_stack.durable_host import sdk_seam
from local_stack.durable_host.management import client_binding

T0 = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
SEAM = "local_stack/durable_host/sdk_seam.py"

HTTP_PARAMETERS = {
    "post_async_request": ["url", "data", "trace_parent", "trace_state", "function_invocation_id"],
    "get_async_request": ["url", "function_invocation_id"],
    "delete_async_request": ["url", "function_invocation_id"],
}
SIGNATURES = [  # (module, attribute path, parameter names in order, coroutine function?)
    ("azure.durable_functions.models.utils.df_serialization", "df_dumps", ["value"], False),
    ("azure.functions.meta", "Datum", ["value", "type"], False),
    ("azure.functions.durable_functions", "OrchestrationTriggerConverter.decode", ["data", "trigger_metadata"], False),
    ("azure.functions.durable_functions", "ActivityTriggerConverter.decode", ["data", "trigger_metadata"], False),
    ("azure.functions.durable_functions", "ActivityTriggerConverter.encode", ["obj", "expected_type"], False),
    ("azure.functions.decorators.function_app", "FunctionRegister.get_functions", ["self"], False),
    ("azure.functions.decorators.function_app", "Function.get_function_name", ["self"], False),
    ("azure.functions.decorators.function_app", "Function.get_trigger", ["self"], False),
    ("azure.functions.decorators.function_app", "Function.get_bindings", ["self"], False),
    ("azure.functions.decorators.function_app", "Function.get_user_function", ["self"], False),
    *(
        (module, name, parameters, True)
        for module in sdk_seam.CLIENT_HTTP_MODULES
        for name, parameters in HTTP_PARAMETERS.items()
    ),
]

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="who")
def hello(who):
    return f"hello {who}"


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("hello", context.get_input()))


@app.orchestration_trigger(context_name="context")
def refuse(context: df.DurableOrchestrationContext):
    raise ValueError("refused")
    yield  # a generator, as every orchestrator is


@app.route(route="start")
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client) -> func.HttpResponse:
    return func.HttpResponse(await client.start_new("greet"))


def changed(what: str, detail: str) -> str:
    return f"SDK contract changed: {what}: {detail}. {SEAM} depends on it; adapt the seam, then this test."


def handlers() -> dict:
    return {f.name: f.user_function for f in sdk_seam.app_functions(app) if f.trigger_type == "orchestrationTrigger"}


def greet_history(*, completed: bool) -> list[dict]:
    """greet's first episode, or its second one (after 'hello' completed)."""
    first = [h.orchestrator_started(T0), h.execution_started(T0, "greet", "i1", "e1", json.dumps('"world"'))]
    if not completed:
        return h.replay_history([], first)
    past = first + [h.task_scheduled(T0, 0, "hello", '"world"'), h.orchestrator_completed(T0)]
    return h.replay_history(past, [h.orchestrator_started(T0), h.task_completed(T0, 0, '"hello world"')])


# ------------------------------------------------------------------ versions
@pytest.mark.parametrize("distribution", sorted(sdk_seam.WRITTEN_FOR))
def test_installed_sdk_is_the_version_the_seam_was_written_for(distribution):
    installed = importlib.metadata.version(distribution)
    expected = sdk_seam.WRITTEN_FOR[distribution]
    assert installed.split(".")[:2] == expected.split("."), (
        f"{SEAM} was written for {distribution} {expected}.x but {installed} is installed. Run this file: "
        f"its other failures name every internal that changed. Then update sdk_seam.WRITTEN_FOR."
    )


# ------------------------------------------------------------------ existence and signatures
@pytest.mark.parametrize(
    "module, path, parameters, is_async", SIGNATURES, ids=[f"{m.rsplit('.', 1)[-1]}.{p}" for m, p, _, _ in SIGNATURES]
)
def test_internal_exists_with_expected_signature(module, path, parameters, is_async):
    where = f"{module}.{path}"
    try:
        target = importlib.import_module(module)
        for part in path.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        pytest.fail(changed(where, f"it no longer exists ({exc})"))
    actual = [name for name in inspect.signature(target).parameters]
    assert actual == parameters, changed(where, f"parameters were {parameters}, now {actual}")
    assert inspect.iscoroutinefunction(target) == is_async, changed(
        where, "it is no longer a coroutine function" if is_async else "it became a coroutine function"
    )


def test_the_seam_patches_exactly_the_http_functions_checked_here():
    assert set(sdk_seam.CLIENT_HTTP_FUNCTIONS) == set(HTTP_PARAMETERS)


def test_only_the_seam_imports_azure_in_the_durable_host():
    package = Path(sdk_seam.__file__).parent
    offenders = []
    for source in sorted(package.glob("*.py")):
        if source.name == "sdk_seam.py":
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            offenders += [f"{source.name}: {m}" for m in modules if m.split(".")[0] == "azure"]
    assert not offenders, f"SDK imports outside {SEAM}: {offenders}"


# ------------------------------------------------------------------ behaviour
def test_df_dumps_writes_plain_json_for_builtins():
    value = {"run": "r1", "batches": [0, 1], "dry": True, "note": None}
    text = sdk_seam.df_dumps(value)
    assert isinstance(text, str) and json.loads(text) == value, changed("df_dumps", f"{value!r} became {text!r}")


def test_activity_converter_round_trips_a_known_payload():
    decoded = sdk_seam.decode_activity_input('{"ids": [1, 2], "name": "x"}')
    assert decoded == {"ids": [1, 2], "name": "x"}, changed("ActivityTriggerConverter.decode", repr(decoded))
    assert sdk_seam.decode_activity_input("not json") == "not json", changed(
        "ActivityTriggerConverter.decode", "text that is not JSON is no longer passed through as a string"
    )
    encoded = sdk_seam.encode_activity_result({"ids": [1, 2]})
    assert encoded == '{"ids": [1, 2]}', changed("ActivityTriggerConverter.encode", repr(encoded))


def test_app_functions_index_the_app_and_survive_repeated_calls():
    first, second = sdk_seam.app_functions(app), sdk_seam.app_functions(app)  # python-worker#1867
    functions = {f.name: f for f in second}
    assert [f.name for f in first] == [f.name for f in second]
    assert {name: f.trigger_type for name, f in functions.items()} == {
        "hello": "activityTrigger",
        "greet": "orchestrationTrigger",
        "refuse": "orchestrationTrigger",
        "start": "httpTrigger",
    }, changed("app.get_functions()", "function names or trigger types differ")
    assert functions["hello"].trigger_parameter == "who"
    assert functions["start"].client_parameters == ("client",)
    handler = functions["greet"].user_function
    assert getattr(handler, "orchestrator_function", None) is not None, changed(
        "Function.get_user_function()", "for an orchestrator it is no longer the SDK handler (Orchestrator.create)"
    )
    assert handler.orchestrator_function.__name__ == "greet"


def test_handler_returns_the_documented_state_json():
    handler = handlers()["greet"]
    state, crash = sdk_seam.call_orchestrator(handler, h.context_json(greet_history(completed=False), '"world"', "i1"))
    assert crash is None, changed("orchestrator handler", f"it crashed: {crash}")
    assert state == {
        "isDone": False,
        "schemaVersion": 2,
        "actions": [[{"actionType": 0, "functionName": "hello", "input": '"world"'}]],
    }, changed("orchestrator handler", f"first episode returned {state}")
    state, _ = sdk_seam.call_orchestrator(handler, h.context_json(greet_history(completed=True), '"world"', "i1"))
    assert state["isDone"] is True and state["output"] == "hello world", changed(
        "orchestrator handler", f"second episode returned {state}"
    )


def test_failing_orchestrator_reports_its_state_after_the_out_of_proc_marker():
    body = h.context_json(greet_history(completed=False), '"world"', "i1")
    state, crash = sdk_seam.call_orchestrator(handlers()["refuse"], body)
    assert crash is None, changed(
        "orchestrator handler errors", f"no state after {sdk_seam.OUT_OF_PROC_MARKER!r}: {crash}"
    )
    assert state["error"] == "refused" and state["isDone"] is False, changed("orchestrator error state", str(state))


def test_clients_built_while_routed_send_their_requests_to_the_replacements():
    calls = []

    async def post(url, data=None, trace_parent=None, trace_state=None, function_invocation_id=None):
        calls.append(("POST", url, data))
        return [202, {}]

    async def get(url, function_invocation_id=None):
        calls.append(("GET", url, None))
        return [404, ""]

    async def delete(url, function_invocation_id=None):
        calls.append(("DELETE", url, None))
        return [404, {"instancesDeleted": 0}]

    originals = [
        getattr(importlib.import_module(m), n)
        for m in sdk_seam.CLIENT_HTTP_MODULES
        for n in sdk_seam.CLIENT_HTTP_FUNCTIONS
    ]
    with sdk_seam.client_http_routed_to(post, get, delete):
        client = df.DurableOrchestrationClient(client_binding("ContractHub"))
    assert not asyncio.run(client.get_status("abc"))  # still routed after the block
    asyncio.run(client.raise_event("abc", "Go", {"ok": True}))
    assert [(method, url.split("?")[0].rsplit("/", 2)[-2:]) for method, url, _ in calls] == [
        ("GET", ["instances", "abc"]),
        ("POST", ["raiseEvent", "Go"]),
    ], changed("DurableOrchestrationClient", f"it no longer calls the module's HTTP functions: {calls}")
    assert calls[1][2] == json.dumps({"ok": True}), changed("raise_event", f"it posted {calls[1][2]!r}")
    assert originals == [
        getattr(importlib.import_module(m), n)
        for m in sdk_seam.CLIENT_HTTP_MODULES
        for n in sdk_seam.CLIENT_HTTP_FUNCTIONS
    ]
