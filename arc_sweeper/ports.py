"""What the sweep's steps need from the outside world, as narrow interfaces.

The steps (arc_sweeper.steps) take these protocols rather than the concrete clients, so
each step can be read, and unit-tested with in-memory fakes, without Azure or Azurite.
The concrete implementations are arc_sweeper.resource_graph (FleetReader),
arc_sweeper.arm (SubscriptionDirectory, FleetWriter), arc_sweeper.tables (the stores)
and arc_sweeper.logic_app (AlertSender).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from arc_sweeper.extensions import ExtensionSnapshot
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.records import (
    ExtensionRecord,
    FleetRecord,
    MachineRecord,
    ObservedRelease,
    RingRecord,
    RunRecord,
    SubscriptionRecord,
)
from arc_sweeper.throttling import Gate
from arc_sweeper.vocabulary import DeliveryStatus


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    display_name: str
    state: str


@dataclass(frozen=True)
class PatchOutcome:
    """What ARM said to one PATCH; `http_status` is None when no answer came.

    With no answer, `sent` tells whether the request may have reached ARM (then the
    machine's state is unknown and must be read before any second PATCH) or surely did not.
    """

    succeeded: bool
    http_status: int | None
    error_code: str = ""
    error_message: str = ""
    sent: bool = True

    @property
    def unknown(self) -> bool:
        return self.http_status is None and self.sent


@dataclass(frozen=True)
class DeliveryResult:
    """What happened to one alert; every field is safe to log and to store on the run row."""

    delivered: bool
    status: DeliveryStatus
    http_status: int | None  # the last HTTP status received, None when nothing was received
    attempts: int  # HTTP requests made
    detail: str


class ArmError(Exception):
    """A read ARM refused; carries the ARM error code for the record."""

    def __init__(self, http_status: int | None, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.http_status = http_status
        self.code = code
        self.message = message


class SubscriptionDirectory(Protocol):
    def list_subscriptions(self) -> Iterator[Subscription]: ...

    def get_subscription(self, subscription_id: str) -> Subscription: ...


class MachineReader(Protocol):
    def find_machines(self, subscription_ids: Iterable[str], gate: Gate | None = None) -> Iterator[MachineSnapshot]: ...


class ExtensionReader(Protocol):
    def find_extensions(
        self, subscription_ids: Iterable[str], gate: Gate | None = None
    ) -> Iterator[ExtensionSnapshot]: ...


class FleetReader(MachineReader, ExtensionReader, Protocol):
    """Resource Graph, as discovery and follow-up read it."""


class MachineWriter(Protocol):
    def enable_automatic_upgrade(self, machine_id: str, gate: Gate | None = None) -> PatchOutcome: ...

    def automatic_upgrade_enabled(self, machine_id: str) -> bool | None: ...


class ExtensionWriter(Protocol):
    def enable_extension_upgrade(self, extension_id: str, gate: Gate | None = None) -> PatchOutcome: ...

    def extension_upgrade_enabled(self, extension_id: str) -> bool | None: ...


class FleetWriter(MachineWriter, ExtensionWriter, Protocol):
    """ARM, as enabling writes to it."""


class AlertSender(Protocol):
    def deliver(self, payload: dict[str, Any]) -> DeliveryResult: ...


class ScopeLeases(Protocol):
    """One enabling sweep per overlapping scope (arc_sweeper.leases)."""

    def acquire(
        self, run_id: str, scope: Collection[str], now: datetime, ttl: timedelta, evict: Iterable[str] = ()
    ) -> str | None: ...

    def release(self, run_id: str) -> None: ...

    def renew(self, run_id: str, now: datetime, ttl: timedelta) -> str | None: ...

    def holds(self, run_id: str, now: datetime) -> bool: ...


class RunStore(Protocol):
    def create_tables(self) -> None: ...

    def put_run(self, run: RunRecord) -> None: ...

    def get_run(self, run_id: str) -> RunRecord | None: ...


class SubscriptionStore(Protocol):
    def put_subscriptions(self, records: Iterable[SubscriptionRecord]) -> None: ...

    def subscriptions(self, run_id: str, batch_index: int | None = None) -> list[SubscriptionRecord]: ...


class MachineStore(Protocol):
    def put_machines(self, records: Iterable[MachineRecord]) -> None: ...

    def machines(
        self, run_id: str, subscription_id: str, *, enable_chunk: int | None = None, enabled_only: bool = False
    ) -> list[MachineRecord]: ...


class ExtensionStore(Protocol):
    def put_extensions(self, records: Iterable[ExtensionRecord]) -> None: ...

    def extensions(
        self, run_id: str, subscription_id: str, *, enable_chunk: int | None = None, followed_only: bool = False
    ) -> list[ExtensionRecord]: ...

    def extension_versions(self, run_id: str, subscription_id: str) -> list[tuple[str, str, str]]:
        """(publisher, type, version) of each of one subscription's extension rows: all ranking reads."""


class FleetStore(Protocol):
    def fleet(self, subscription_id: str) -> dict[str, FleetRecord]: ...

    def put_fleet(self, records: Iterable[FleetRecord]) -> None: ...

    def merge_fleet(self, subscription_id: str, changes: Mapping[str, Mapping[str, Any]]) -> None: ...


class ReleaseStore(Protocol):
    """Releases the estate ran before the catalogue listed them (the `releases` table)."""

    def observed_releases(self) -> list[ObservedRelease]: ...

    def record_release(self, release: ObservedRelease) -> None:
        """Record it unless it is already recorded: the first sighting's date and machine stay."""


class RingStore(Protocol):
    """The staged rollout's rings (the `rings` table) and what it measures them by (the fleet table)."""

    def rings(self) -> dict[int, RingRecord]: ...

    def put_rings(self, records: Iterable[RingRecord]) -> None: ...

    def fleet_everywhere(self) -> Iterator[FleetRecord]: ...


class ScopeStore(RunStore, SubscriptionStore, ReleaseStore, Protocol):
    """What starting a run touches."""
