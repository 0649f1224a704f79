"""History events and the context JSON, in the extension's wire format.

The SDK rebuilds an orchestration's state only from what the host sends it: a list of DTFx
history events (PascalCase fields, .NET timestamps) wrapped in a context object. Keeping the
builders in one place lets the host and tests write exactly the same events. Protocol details:
shared/reference/durable-functions-python.md, sections 3 and 4.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dateutil.parser import isoparse

# DTFx EventType values, only those the host writes or reads.
EXECUTION_STARTED, EXECUTION_COMPLETED, EXECUTION_TERMINATED = 0, 1, 3
TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 4, 5, 6
SUB_CREATED, SUB_COMPLETED, SUB_FAILED = 7, 8, 9
TIMER_CREATED, TIMER_FIRED = 10, 11
ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED, EVENT_RAISED = 12, 13, 15


def net_ts(dt: datetime) -> str:
    """.NET DateTime as the extension serialises it: 7 fractional digits and 'Z'."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_ts(text: str) -> datetime:
    """Any ISO timestamp as an aware datetime (naive ones are taken as UTC)."""
    dt = isoparse(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def event(event_type: int, at: datetime, event_id: int = -1, **fields: Any) -> dict:
    """One history event with the fields every event carries."""
    return {"EventType": event_type, "EventId": event_id, "IsPlayed": False, "Timestamp": net_ts(at), **fields}


def orchestrator_started(at: datetime) -> dict:
    """Opens an episode; its timestamp becomes ``context.current_utc_datetime``."""
    return event(ORCHESTRATOR_STARTED, at)


def orchestrator_completed(at: datetime) -> dict:
    return event(ORCHESTRATOR_COMPLETED, at)


def execution_started(
    at: datetime,
    name: str,
    instance_id: str,
    execution_id: str,
    input_text: str | None,
    parent: dict | None = None,
    generation: int = 0,
) -> dict:
    """Starts an execution. ``Version`` must be present or the SDK raises AttributeError."""
    return event(
        EXECUTION_STARTED,
        at,
        Name=name,
        Version="",
        Input=input_text,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent,
        Tags=None,
        Correlation=None,
        ScheduledStartTime=None,
        Generation=generation,
    )


def task_scheduled(at: datetime, task_id: int, name: str, input_text: Any) -> dict:
    return event(TASK_SCHEDULED, at, task_id, Name=name, Version="", Input=input_text)


def task_completed(at: datetime, task_id: int, result_text: str | None) -> dict:
    return event(TASK_COMPLETED, at, TaskScheduledId=task_id, Result=result_text)


def task_failed(at: datetime, task_id: int, reason: str, details: str) -> dict:
    return event(TASK_FAILED, at, TaskScheduledId=task_id, Reason=reason, Details=details)


def timer_created(at: datetime, timer_id: int, fire_at: datetime) -> dict:
    return event(TIMER_CREATED, at, timer_id, FireAt=net_ts(fire_at))


def timer_fired(at: datetime, timer_id: int, fire_at: datetime) -> dict:
    return event(TIMER_FIRED, at, TimerId=timer_id, FireAt=net_ts(fire_at))


def sub_created(at: datetime, task_id: int, name: str, instance_id: str, input_text: Any) -> dict:
    return event(SUB_CREATED, at, task_id, Name=name, Version="", InstanceId=instance_id, Input=input_text)


def sub_completed(at: datetime, task_id: int, result_text: str | None) -> dict:
    return event(SUB_COMPLETED, at, TaskScheduledId=task_id, Result=result_text)


def sub_failed(at: datetime, task_id: int, reason: str, details: str) -> dict:
    return event(SUB_FAILED, at, TaskScheduledId=task_id, Reason=reason, Details=details)


def event_raised(at: datetime, name: str, input_text: str) -> dict:
    """An external event; the payload is in ``Input``, not ``Result``."""
    return event(EVENT_RAISED, at, Name=name, Input=input_text)


def execution_completed(at: datetime, status: str, result_text: str | None) -> dict:
    return event(EXECUTION_COMPLETED, at, OrchestrationStatus=status, Result=result_text)


def execution_terminated(at: datetime, reason: str) -> dict:
    return event(EXECUTION_TERMINATED, at, Input=reason)


def replay_history(played: list[dict], new: list[dict]) -> list[dict]:
    """What one episode sends: earlier events marked played, then this episode's events."""
    return [{**e, "IsPlayed": True} for e in played] + [{**e, "IsPlayed": False} for e in new]


def context_json(
    history: list[dict], input_text: str | None, instance_id: str, parent_instance_id: str | None = None
) -> str:
    """The orchestration trigger's body, with exactly the keys the extension sends.

    Schema V3 (``upperSchemaVersionNew=2``) plus both durations make the SDK split long timers.
    """
    return json.dumps(
        {
            "history": history,
            "input": input_text,
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": parent_instance_id,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
            "longRunningTimerIntervalDuration": "3.00:00:00",
            "maximumShortTimerDuration": "6.00:00:00",
            "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
        }
    )
