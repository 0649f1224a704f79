"""What the sweeper knows about one Arc machine, as read from Azure Resource Graph."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MachineSnapshot:
    """One `Microsoft.HybridCompute/machines` resource at the time it was read.

    Fields keep Azure's raw strings (version, status, last attempt) so that odd values
    are recorded as seen; interpretation happens in :mod:`arc_sweeper.findings`.
    `auto_upgrade` is None when Azure did not report the property at all.
    """

    id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str = ""
    os_type: str = ""
    status: str = ""
    agent_version: str = ""
    auto_upgrade: bool | None = None
    last_attempt_status: str = ""
    last_attempt_message: str = ""
    last_attempt_timestamp: str = ""
    last_status_change: str = ""
    tags: dict[str, str] = field(default_factory=dict)
