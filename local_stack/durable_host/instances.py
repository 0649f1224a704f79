"""Orchestration instances: the host's record of each one and the snapshot callers get.

Kept apart from the scheduling loop so the state an instance carries (status, history,
inbox, replay counters) can be read in one screen.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import history as h

ACTIVE = ("Pending", "Running")
TERMINAL = ("Completed", "Failed", "Terminated")


class DurableHostError(Exception):
    """A management call the extension would reject (unknown function, instance exists, ...)."""

    def __init__(self, message: str, status: int = 400, exception_type: str = "System.ArgumentException"):
        super().__init__(message)
        self.status, self.exception_type = status, exception_type


@dataclass(frozen=True)
class InstanceInfo:
    """Snapshot of one instance, for tests and progress displays."""

    instance_id: str
    name: str
    runtime_status: str
    input: Any
    output: Any
    custom_status: Any
    created_time: datetime
    last_updated_time: datetime
    execution_id: str
    parent_instance_id: str | None
    history_length: int  # current execution
    max_history_length: int  # largest history of any execution
    episodes: int  # handler invocations, all executions
    replays: int  # episodes that replayed earlier history
    replayed_events: int  # total played events fed to the SDK
    executions: int  # 1 + number of continue-as-new
    error: str | None


@dataclass
class Instance:
    """The host's mutable record of one instance; always used under the host's lock."""

    instance_id: str
    name: str
    input: Any  # the JSON value the extension stored (the SDK client sends df_dumps text)
    execution_id: str
    parent: tuple[str, str, str, int] | None  # (instance id, execution id, name, task id)
    created: datetime
    updated: datetime
    status: str = "Pending"
    output: Any = None
    custom_status: Any = None
    error: str | None = None
    history: list = field(default_factory=list)  # current execution
    inbox: list = field(default_factory=list)  # new messages for the current execution
    episodes: int = 0
    replays: int = 0
    replayed_events: int = 0
    executions: int = 1
    max_history: int = 0

    @property
    def parent_id(self) -> str | None:
        return self.parent[0] if self.parent else None

    def execution_started(self, at: datetime) -> dict:
        """The ExecutionStarted message that opens the current execution."""
        parent = None
        if self.parent:
            parent_id, parent_execution, parent_name, task_id = self.parent
            parent = {
                "Name": parent_name,
                "Version": "",
                "TaskScheduleId": task_id,
                "OrchestrationInstance": {"InstanceId": parent_id, "ExecutionId": parent_execution},
            }
        return h.execution_started(
            at,
            self.name,
            self.instance_id,
            self.execution_id,
            None if self.input is None else json.dumps(self.input),
            parent,
            generation=self.executions - 1,
        )

    def info(self) -> InstanceInfo:
        return InstanceInfo(
            self.instance_id,
            self.name,
            self.status,
            self.input,
            self.output,
            self.custom_status,
            self.created,
            self.updated,
            self.execution_id,
            self.parent_id,
            len(self.history),
            self.max_history,
            self.episodes,
            self.replays,
            self.replayed_events,
            self.executions,
            self.error,
        )

    def close_episode(self, at: datetime) -> None:
        self.history.append(h.orchestrator_completed(at))
        self.max_history = max(self.max_history, len(self.history))
        self.updated = at

    def finish(
        self, status: str, at: datetime, output: Any = None, error: str | None = None
    ) -> tuple[str, str, dict] | None:
        """End the execution; returns (parent id, parent execution id, reply) for a sub-orchestration."""
        self.status, self.error = status, error
        self.output = error if status == "Failed" else output
        self.inbox.clear()
        self.history.append(h.execution_completed(at, status, None if self.output is None else json.dumps(self.output)))
        self.close_episode(at)
        if not self.parent:
            return None
        parent_id, parent_execution, _, task_id = self.parent
        if status == "Completed":
            reply = h.sub_completed(at, task_id, None if output is None else json.dumps(output))
        else:
            reply = h.sub_failed(at, task_id, error, f"Message: {error}")
        return parent_id, parent_execution, reply

    def continue_as_new(self, new_input: Any, at: datetime) -> None:
        """Fresh execution id and history; unprocessed messages of the old execution are dropped."""
        self.execution_id = uuid.uuid4().hex
        self.input = new_input
        self.history = []
        self.executions += 1
        self.inbox = [self.execution_started(at)]
