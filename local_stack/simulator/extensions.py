"""Arc machine extensions: the child resource, and how the platform upgrades it over time.

Microsoft's "Automatic extension upgrade for Azure Arc-enabled servers" (reference §10):
every extension is opted in by default, only the supported types are ever upgraded, a
failed upgrade is rolled back, the next attempt "can be as soon as the next hour", and a
rollout "could take up to eight weeks". The model, on the simulator's clock:

- an extension is opted in while ``enableAutomaticUpgrade`` is not false (absent counts as on);
- one of a supported type (extension_catalog.py), provisioned (``Succeeded``), older than its
  type's latest version, on a Connected machine, gets an attempt at the first whole hour
  after ``behaviour.delay`` has passed since it was opted in (or since the rollout began: the
  fleet's creation). The delay stands in for the weeks of a rollout, and is days by default;
- ``UPGRADES``: the attempt succeeds, ``typeHandlerVersion`` becomes the latest;
- ``FAILS_AND_ROLLS_BACK``: ``failures`` attempts fail. Each shows status level ``Error`` with
  its message for ``rollback_after``, the version unchanged, then the rollback completes and
  the status is healthy again; the next attempt is at the first whole hour ``retry_interval``
  after that;
- unsupported types, failed installs and disconnected machines are never upgraded.

Like the agents (agents.py), nothing runs in the background: ``agents.settle`` replays these
events in time order with the machine's own whenever the machine is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from local_stack.simulator.extension_catalog import (
    LATEST_EXTENSION_VERSIONS,
    SUPPORTED_EXTENSION_TYPES,
    catalog_entry,
    type_key,
)
from local_stack.simulator.props import Recorder, set_property

if TYPE_CHECKING:
    from local_stack.simulator.fleet import Machine

#: What an extension's upgrade attempts do.
UPGRADES = "upgrades"  # the first attempt succeeds
FAILS_AND_ROLLS_BACK = "fails-and-rolls-back"  # `failures` attempts fail and are rolled back (None: all of them)
EXTENSION_OUTCOMES = (UPGRADES, FAILS_AND_ROLLS_BACK)

SUCCEEDED = "Succeeded"
HEALTHY_LEVEL = "Information"  # what Arc extensions report (the REST spec's enum says "Info")
ERROR_LEVEL = "Error"

UPGRADE_FAILURE_MESSAGES = (
    "Extension upgrade failed: the new handler did not report a status within 30 minutes; the previous "
    "version was restored.",
    "Extension upgrade failed: the install command exited with code 1603 (fatal error during installation); "
    "the previous version was restored.",
    "Extension upgrade failed: could not download the extension package (i/o timeout); the previous version "
    "was restored.",
    "Extension upgrade failed: the enable command of the new version exited with code 52; rolled back to the "
    "previous version.",
)
INSTALL_FAILURE_MESSAGES = (
    "Extension installation failed: the handler exited with code 1 while enabling the extension. See the "
    "extension log on the machine for details.",
    "Extension installation failed: the extension is blocked by the agent's extension allow list.",
    "Extension installation failed: could not download the extension package (i/o timeout).",
)


def healthy_status(ext_type: str) -> dict[str, str]:
    return {"code": "0", "level": HEALTHY_LEVEL, "message": f"Extension Message: {ext_type} is running"}


def version_key(version: Any) -> tuple[int, ...] | None:
    """Dotted numbers compared as integers (``1.10`` after ``1.9``); None if it is not that."""
    if not isinstance(version, str) or not re.fullmatch(r"\d+(\.\d+)*", version.strip()):
        return None
    return tuple(int(part) for part in version.strip().split("."))


def next_hour(moment: datetime) -> datetime:
    """The first whole hour at or after ``moment``: the platform's hourly slots."""
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + timedelta(hours=1)


@dataclass
class ExtensionBehaviour:
    """Per-extension randomness, drawn once by the generator (or set by a test)."""

    outcome: str = UPGRADES
    delay: timedelta = timedelta(days=2)  # opt-in (or rollout start) to the first attempt's slot
    failures: int | None = 1  # FAILS_AND_ROLLS_BACK: failed attempts before one succeeds
    rollback_after: timedelta = timedelta(hours=2)  # how long a failed attempt shows Error
    failure_message: str = UPGRADE_FAILURE_MESSAGES[0]

    def __post_init__(self) -> None:
        if self.outcome not in EXTENSION_OUTCOMES:
            raise ValueError(f"outcome must be one of {EXTENSION_OUTCOMES}, got {self.outcome!r}")
        if self.failures is not None and self.failures < 0:
            raise ValueError("failures must be None (every attempt fails) or at least 0")

    def fails(self, attempt_index: int) -> bool:
        if self.outcome == UPGRADES:
            return False
        return self.failures is None or attempt_index < self.failures


@dataclass(eq=False)
class Extension:
    """A ``Microsoft.HybridCompute/machines/extensions`` child resource.

    ``properties`` is the bag GET returns, in ARM's shape (missing keys really missing);
    the rest drives the simulation. Build one with :meth:`build`.
    """

    name: str
    properties: dict[str, Any]
    behaviour: ExtensionBehaviour = field(default_factory=ExtensionBehaviour)
    due_at: datetime | None = None  # the next upgrade attempt's slot, while opted in
    rollback_at: datetime | None = None  # when the failed attempt in progress is rolled back
    attempts: int = 0  # attempts since it was opted in
    tags: dict[str, str] = field(default_factory=dict)
    protected_settings: dict[str, Any] = field(default_factory=dict)  # write-only: never served

    @classmethod
    def build(
        cls,
        publisher: str,
        ext_type: str,
        version: str | None = None,
        *,
        name: str | None = None,
        auto_upgrade: bool | None = True,
        failed: str | None = None,
        behaviour: ExtensionBehaviour | None = None,
        pending_since: datetime | None = None,
    ) -> Extension:
        """An extension as Azure shows a healthy install. ``version=None`` is the catalogue's latest;
        ``auto_upgrade=None`` omits ``enableAutomaticUpgrade`` (opted in by default); ``failed`` makes
        the install a failed one (``provisioningState: Failed``, status level Error, this message).
        ``pending_since``: when the rollout of the latest version began for it (default: the fleet's
        creation)."""
        if version is None:
            entry = catalog_entry(publisher, ext_type)
            if entry is None:
                raise ValueError(f"{publisher}/{ext_type} is not in the catalogue: give a version")
            version = entry.latest
        name = name or ext_type
        status = healthy_status(ext_type) if failed is None else {"code": "1", "level": ERROR_LEVEL, "message": failed}
        props: dict[str, Any] = {"publisher": publisher, "type": ext_type, "typeHandlerVersion": version}
        if auto_upgrade is not None:
            props["enableAutomaticUpgrade"] = auto_upgrade
        props.update(
            {
                "autoUpgradeMinorVersion": False,
                "settings": {},
                "provisioningState": SUCCEEDED if failed is None else "Failed",
                "instanceView": {"name": name, "type": ext_type, "typeHandlerVersion": version, "status": status},
            }
        )
        ext = cls(name, props, behaviour=behaviour or ExtensionBehaviour())
        if pending_since is not None and ext.opted_in:
            ext.schedule_from(pending_since)
        return ext

    @property
    def publisher(self) -> str:
        return str(self.properties.get("publisher", ""))

    @property
    def type(self) -> str:
        return str(self.properties.get("type", ""))

    @property
    def version(self) -> str:
        return str(self.properties.get("typeHandlerVersion", ""))

    @property
    def opted_in(self) -> bool:
        """Microsoft: every extension is opted in unless ``enableAutomaticUpgrade`` is false."""
        return self.properties.get("enableAutomaticUpgrade") is not False

    def schedule_from(self, moment: datetime) -> None:
        """Opted in at ``moment``: the first attempt is in the first hourly slot after the delay."""
        self.due_at = next_hour(moment + self.behaviour.delay)
        self.attempts = 0

    def unschedule(self) -> None:
        self.due_at = None
        self.attempts = 0


@dataclass
class ExtensionModel:
    """Fleet-wide rules of the extension upgrade service: what is supported, what is latest."""

    latest_versions: dict[tuple[str, str], str] = field(default_factory=lambda: dict(LATEST_EXTENSION_VERSIONS))
    supported: frozenset[tuple[str, str]] = SUPPORTED_EXTENSION_TYPES
    retry_interval: timedelta = timedelta(hours=1)  # after a rollback, until the next attempt's slot

    def __post_init__(self) -> None:
        self._latest = {type_key(*key): version for key, version in self.latest_versions.items()}
        self._supported = {type_key(*key) for key in self.supported}

    def supports(self, ext: Extension) -> bool:
        return type_key(ext.publisher, ext.type) in self._supported

    def latest(self, ext: Extension) -> str | None:
        return self._latest.get(type_key(ext.publisher, ext.type))

    def wants_upgrade(self, ext: Extension) -> bool:
        """Opted in, supported, installed, and older than the latest: the platform will upgrade it."""
        if not ext.opted_in or ext.properties.get("provisioningState") != SUCCEEDED or not self.supports(ext):
            return False
        current, latest = version_key(ext.version), version_key(self.latest(ext))
        return current is not None and latest is not None and current < latest


def next_event(machine: Machine, model: ExtensionModel, connected: bool) -> tuple[datetime, str, Extension] | None:
    """The earliest (time, kind, extension) due on this machine: a rollback (on the machine, whatever
    its connection) or, while it is Connected, an upgrade attempt."""
    events = []
    for ext in machine.extensions:
        if ext.rollback_at is not None:
            events.append((ext.rollback_at, "rollback", ext))
        elif connected and ext.due_at is not None and model.wants_upgrade(ext):
            events.append((ext.due_at, "attempt", ext))
    return min(events, key=lambda e: e[0]) if events else None


def apply_event(
    machine: Machine, ext: Extension, kind: str, at: datetime, model: ExtensionModel, record: Recorder | None
) -> None:
    """Carry out one event from :func:`next_event`, recording every property it changes."""

    def put(path: tuple[str, ...], value: Any, cause: str) -> None:
        set_property(machine, path, value, at, cause, record, extension=ext)

    if kind == "rollback":
        ext.rollback_at = None
        for key, value in healthy_status(ext.type).items():
            put(("instanceView", "status", key), value, "extension-rollback")
        ext.due_at = next_hour(at + model.retry_interval) if ext.opted_in else None
        return
    index = ext.attempts
    ext.attempts += 1
    ext.due_at = None
    if ext.behaviour.fails(index):
        for key, value in (("code", "1"), ("level", ERROR_LEVEL), ("message", ext.behaviour.failure_message)):
            put(("instanceView", "status", key), value, "extension-upgrade")
        ext.rollback_at = at + ext.behaviour.rollback_after
        return
    latest = model.latest(ext)
    put(("typeHandlerVersion",), latest, "extension-upgrade")
    put(("instanceView", "typeHandlerVersion"), latest, "extension-upgrade")
