"""What the Python worker does around user code: run activities, await coroutines.

Activities get their argument and return their result through the worker's own converter
(via the seam), so payloads are (de)serialised exactly as on Azure. Failures are reported
the way the extension records them, never raised into the host.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import history as h
from . import sdk_seam


@dataclass(frozen=True)
class ActivityOutcome:
    """An activity's result text, or why it failed (TaskFailed's Reason and Details)."""

    result: str | None = None
    reason: str | None = None
    details: str | None = None

    def event(self, at: datetime, task_id: int) -> dict:
        if self.reason is None:
            return h.task_completed(at, task_id, self.result)
        return h.task_failed(at, task_id, self.reason, self.details)


def execute_activity(activities: dict[str, tuple[Callable, str]], name: str, input_text: Any) -> ActivityOutcome:
    """Run one activity (function, trigger parameter) by name; never raises."""
    entry = activities.get(name)
    if entry is None:  # the extension's TaskNonexistentActivityShim
        known = "', '".join(activities)
        message = (
            f"The function '{name}' doesn't exist, is disabled, or is not an activity function. "
            "Additional info: "
            + (
                f"The following are the known activity functions: '{known}'."
                if known
                else "No activity functions are currently registered!"
            )
        )
        return ActivityOutcome(
            reason=f"Activity function '{name}' failed: {message}",
            details=json.dumps(
                {
                    "ClassName": "Microsoft.Azure.WebJobs.Extensions.DurableTask.FunctionFailedException",
                    "Message": message,
                }
            ),
        )
    function, parameter = entry
    try:
        value = None if input_text is None else sdk_seam.decode_activity_input(input_text)
        return ActivityOutcome(result=sdk_seam.encode_activity_result(call(function, **{parameter: value})))
    except Exception as exc:  # noqa: BLE001 - any activity failure becomes TaskFailed
        return ActivityOutcome(
            reason=f"Activity function '{name}' failed: {type(exc).__name__}: {exc}", details=traceback.format_exc()
        )


def call(function: Callable, /, **kwargs: Any) -> Any:
    """Call user code as the worker does: coroutines are awaited."""
    result = function(**kwargs)
    return run_coroutine(result) if inspect.isawaitable(result) else result


def run_coroutine(awaitable: Any) -> Any:
    """Await from sync code; uses a helper thread if this thread already runs an event loop."""

    async def wrapper():
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wrapper())
    box: dict = {}

    def target():
        try:
            box["value"] = asyncio.run(wrapper())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
