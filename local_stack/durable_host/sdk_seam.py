"""The one place the local host touches azure-functions / azure-functions-durable internals.

On Azure the Python worker and the Durable extension sit between the app and the SDK; the
local host plays both, so it must call SDK pieces that are not public API: the worker's
trigger converters, the SDK client's HTTP utility, the app's function registry. They are all
wrapped here so an SDK upgrade breaks one module, and tests/local_host/test_sdk_contract.py
says what changed. Nothing else in local_stack/durable_host imports azure.*.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.utils.df_serialization import (  # the SDK client's serializer, used by the host
    df_dumps as df_dumps,
)
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter, OrchestrationTriggerConverter

WRITTEN_FOR = {"azure-functions-durable": "1.7", "azure-functions": "1.26"}  # distribution -> major.minor

# Orchestrator failures: the handler raises "<message>\n\n$OutOfProcData$:<state JSON>".
OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"

# The SDK client copies these functions from its module when constructed; http_utils defines them.
CLIENT_HTTP_MODULES = (
    "azure.durable_functions.models.DurableOrchestrationClient",
    "azure.durable_functions.models.utils.http_utils",
)
CLIENT_HTTP_FUNCTIONS = ("post_async_request", "get_async_request", "delete_async_request")
_patch_lock = threading.Lock()


@dataclass(frozen=True)
class AppFunction:
    """One function registered on a v2-model app, as the worker indexes it."""

    name: str
    trigger_type: str  # e.g. "orchestrationTrigger", "activityTrigger", "httpTrigger"
    trigger_parameter: str  # the user function's parameter the trigger binds to
    client_parameters: tuple[str, ...]  # parameters bound to a durableClient
    user_function: Callable  # for orchestrators: the SDK's handler, not the generator


def app_functions(app: Any) -> list[AppFunction]:
    """The app's functions via ``get_functions()``, which raises on a second call
    (python-worker#1867) unless ``functions_bindings`` is reset around it."""
    app.functions_bindings = None
    try:
        return [
            AppFunction(
                function.get_function_name(),
                function.get_trigger().type,
                function.get_trigger().name,
                tuple(b.name for b in function.get_bindings() if b.type == "durableClient"),
                function.get_user_function(),
            )
            for function in app.get_functions()
        ]
    finally:
        app.functions_bindings = None


def call_orchestrator(handler: Callable, body: str) -> tuple[dict | None, str | None]:
    """Invoke an orchestrator handler as the worker does: ``(state, None)`` or ``(None, crash)``.

    A failing orchestrator still yields a state (parsed after the $OutOfProcData$ marker); any
    other exception is a crash, described as ``"<type>: <message>"``.
    """
    context = OrchestrationTriggerConverter.decode(meta.Datum(type="string", value=body), trigger_metadata=None)
    try:
        return json.loads(handler(context)), None
    except Exception as exc:  # noqa: BLE001 - the worker reports any exception to the host
        message = str(exc)
        if OUT_OF_PROC_MARKER in message:
            return json.loads(message.rpartition(OUT_OF_PROC_MARKER)[2]), None
        return None, f"{type(exc).__name__}: {message}"


def decode_activity_input(input_text: str) -> Any:
    """The activity's argument, decoded from the scheduled JSON text by the worker's converter."""
    return ActivityTriggerConverter.decode(meta.Datum(type="json", value=input_text), trigger_metadata=None)


def encode_activity_result(result: Any) -> str:
    """The activity's return value as the JSON text the worker sends back."""
    return ActivityTriggerConverter.encode(result, expected_type=None).value


@contextlib.contextmanager
def client_http_routed_to(post: Callable, get: Callable, delete: Callable) -> Iterator[None]:
    """Replace the SDK client's HTTP functions for the duration of the block.

    Each replacement is an ``async`` function with the original's parameters returning
    ``[status, body]``. Clients constructed inside the block keep the replacements.
    """
    replacements = dict(zip(CLIENT_HTTP_FUNCTIONS, (post, get, delete), strict=True))
    with _patch_lock:
        modules = [importlib.import_module(m) for m in CLIENT_HTTP_MODULES]
        saved = [(m, n, getattr(m, n)) for m in modules for n in CLIENT_HTTP_FUNCTIONS]
        for module, name, _ in saved:
            setattr(module, name, replacements[name])
    try:
        yield
    finally:
        with _patch_lock:
            for module, name, original in reversed(saved):
                setattr(module, name, original)
