"""The rows the product keeps in Table Storage, as typed records.

The data contract is documented in docs/data-contract.md; this module is its code.
Keys are derived deterministically from resource ids, so a retried activity writes the
same rows again instead of adding new ones. Table keys forbid `/ \\ # ?` and control
characters, so resource-id parts are percent-encoded.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, TypeVar, get_type_hints
from urllib.parse import quote

MAX_TEXT = 2000  # far below Azure Table's 64 KiB per string property, keeps rows small

_MACHINE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/providers/"
    r"microsoft\.hybridcompute/machines/(?P<name>[^/]+)$"
)
_KEY_SAFE = "-_.()!~*'@:;,=+$&[]{} "


def _encode_key_part(text: str) -> str:
    return quote(text, safe=_KEY_SAFE)


def is_machine_id(resource_id: str) -> bool:
    return _MACHINE_ID.match(resource_id.strip().lower()) is not None


def machine_key(resource_id: str) -> str:
    """`{resource group}|{machine name}`, lowercased and percent-encoded; hashed if odd."""
    match = _MACHINE_ID.match(resource_id.strip().lower())
    if match is None:
        return "id-" + hashlib.sha256(resource_id.encode("utf-8")).hexdigest()
    return f"{_encode_key_part(match['rg'])}|{_encode_key_part(match['name'])}"


def machine_partition(run_id: str, subscription_id: str) -> str:
    return f"{run_id}|{subscription_id.lower()}"


def clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


class RunStatus:
    RUNNING = "running"        # discovering and enabling (phases starting and sweeping)
    FOLLOWING = "following"    # enabling done, following the cohort for days
    COMPLETED = "completed"
    FAILED = "failed"


class RunPhase:
    STARTING = "starting"
    SWEEPING = "sweeping"      # discovering machines and enabling automatic upgrade
    FOLLOWING = "following"
    DONE = "done"


class EnableResult:
    ENABLED = "enabled"
    DRY_RUN = "dry_run"          # would have been enabled; nothing was sent
    FAILED = "failed"            # ARM refused or never answered; see arm_error_code
    NOT_ATTEMPTED = "not_attempted"


class Outcome:
    UPGRADED = "upgraded"
    UPGRADE_FAILED = "upgrade_failed"
    STUCK = "stuck"
    PENDING = "pending"
    DISCONNECTED = "disconnected"
    GONE = "gone"

    SETTLED = frozenset({UPGRADED, STUCK, GONE})


T = TypeVar("T")


def to_entity(record: Any, partition_key: str, row_key: str) -> dict[str, Any]:
    """Flatten a record: tuples and dicts become JSON text, everything else stays typed."""
    entity: dict[str, Any] = {"PartitionKey": partition_key, "RowKey": row_key}
    for item in fields(record):
        value = getattr(record, item.name)
        if isinstance(value, (tuple, list, dict)):
            value = json.dumps(list(value) if isinstance(value, tuple) else value, sort_keys=True)
        elif isinstance(value, str):
            value = clip(value)
        entity[item.name] = value
    return entity


@lru_cache(maxsize=None)
def _field_hints(cls: type) -> tuple[tuple[str, str], ...]:
    """(name, type text) of each field; get_type_hints is slow, and rows are read by the thousand."""
    hints = get_type_hints(cls)
    return tuple((item.name, str(hints[item.name])) for item in fields(cls))


def from_entity(cls: type[T], entity: dict[str, Any]) -> T:
    """Rebuild a record, tolerating missing columns (older rows) by using defaults."""
    values: dict[str, Any] = {}
    for name, hint in _field_hints(cls):
        if name not in entity or entity[name] is None:
            continue
        value = entity[name]
        if hint.startswith("tuple") and isinstance(value, str):
            value = tuple(json.loads(value or "[]"))
        elif hint.startswith("dict") and isinstance(value, str):
            value = json.loads(value or "{}")
        values[name] = value
    return cls(**values)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    trigger: str
    dry_run: bool
    scope: tuple[str, ...]
    status: str
    phase: str
    started_at: str
    dry_run_reason: str = ""      # why no PATCH is sent: the request, DRY_RUN, or PUBLIC_CLOUD_ONLY
    follow_up_window: str = ""
    poll_interval: str = ""
    enabling_ended_at: str = ""
    ended_at: str = ""
    updated_at: str = ""
    subscriptions_in_scope: int = 0
    subscriptions_skipped: int = 0
    batch_count: int = 0
    machines_seen: int = 0
    cohort_size: int = 0
    finding_counts: dict[str, int] = field(default_factory=dict)
    action_counts: dict[str, int] = field(default_factory=dict)
    result_counts: dict[str, int] = field(default_factory=dict)
    outcome_counts: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, str] = field(default_factory=dict)  # alert kind -> delivery status and detail
    error: str = ""


@dataclass(frozen=True)
class SubscriptionRecord:
    run_id: str
    subscription_id: str
    display_name: str = ""
    state: str = ""
    in_scope: bool = True
    skip_reason: str = ""
    batch_index: int = -1
    machines: int = 0
    to_enable: int = 0


@dataclass(frozen=True)
class MachineRecord:
    run_id: str
    resource_id: str
    subscription_id: str
    resource_group: str
    name: str
    os_type: str = ""
    location: str = ""
    connection_status: str = ""
    agent_version_seen: str = ""
    auto_upgrade_before: str = ""      # "true", "false" or "missing"
    findings: tuple[str, ...] = ()
    action: str = ""
    action_result: str = ""
    enable_chunk: int = -1             # which enabling activity PATCHes it (-1: not to enable)
    arm_http_status: int = 0
    arm_error_code: str = ""
    arm_error_message: str = ""
    enabled_at: str = ""
    outcome: str = ""
    outcome_detail: str = ""
    agent_version_now: str = ""
    connection_status_now: str = ""
    last_attempt_status: str = ""
    last_attempt_message: str = ""
    last_attempt_time: str = ""
    failed_since: str = ""
    disconnected_since: str = ""
    recovered: bool = False
    updated_at: str = ""

    @property
    def partition_key(self) -> str:
        return machine_partition(self.run_id, self.subscription_id)

    @property
    def row_key(self) -> str:
        return machine_key(self.resource_id)


@dataclass(frozen=True)
class FleetRecord:
    """The latest known state of one machine across runs."""

    resource_id: str
    subscription_id: str
    name: str
    first_seen_at: str = ""
    first_noncompliant_at: str = ""   # empty while compliant
    last_seen_at: str = ""
    last_run_id: str = ""
    agent_version: str = ""
    last_findings: tuple[str, ...] = ()
    last_action: str = ""
    last_result: str = ""
    last_outcome: str = ""
    failing_since: str = ""           # first failed upgrade attempt not yet followed by a success
    updated_at: str = ""
