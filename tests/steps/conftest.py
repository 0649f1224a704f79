"""Each step over in-memory fakes of its ports: what it reads, decides and writes."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from arc_sweeper.catalogue import CatalogueError, ReleaseCatalogue
from arc_sweeper.fleet import FleetLedger
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.messages import DiscoverBatch, StartRun, SweepRequest
from arc_sweeper.ports import Subscription
from arc_sweeper.settings import Settings
from arc_sweeper.steps.closing import ClosingStep
from arc_sweeper.steps.discovery import DiscoveryStep
from arc_sweeper.steps.enabling import EnablingStep
from arc_sweeper.steps.follow_up import FollowUpStep
from arc_sweeper.steps.rings import RingsStep
from arc_sweeper.steps.scope import ScopeStep
from arc_sweeper.vocabulary import Trigger
from tests.fakes import FakeAlerts, FakeArm, FakeDirectory, FakeGraph, InMemoryLeases, InMemoryTables

SUB_A = "aaaaaaaa-0000-4000-8000-000000000001"
SUB_B = "bbbbbbbb-0000-4000-8000-000000000002"
AS_OF = "2026-11-20T09:00:00Z"
NEW = "1.60.03293.809"
CURRENT = "1.67.03504.1320"


def snapshot(
    sub: str, name: str, *, version: str = NEW, auto_upgrade: bool | None = False, status: str = "Connected", **fields
) -> MachineSnapshot:
    return MachineSnapshot(
        id=f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{name}",
        name=name,
        subscription_id=sub,
        resource_group="rg",
        status=status,
        agent_version=version,
        auto_upgrade=auto_upgrade,
        **fields,
    )


@dataclass
class World:
    """The steps wired to fakes, as arc_sweeper.runtime wires them to Azure."""

    env: dict[str, str] = field(default_factory=dict)
    tables: InMemoryTables = field(default_factory=InMemoryTables)
    directory: FakeDirectory = field(
        default_factory=lambda: FakeDirectory(
            [Subscription(SUB_A, "App", "Enabled"), Subscription(SUB_B, "Data", "Enabled")]
        )
    )
    graph: FakeGraph = field(default_factory=FakeGraph)
    arm: FakeArm = field(default_factory=FakeArm)
    alerts: FakeAlerts = field(default_factory=FakeAlerts)
    leases: InMemoryLeases = field(default_factory=InMemoryLeases)
    feed: dict[str, ReleaseCatalogue] = field(default_factory=dict)  # catalogues served by URL

    def fetch(self, url: str) -> ReleaseCatalogue:
        if url not in self.feed:
            raise CatalogueError("https://feed.example", "answered HTTP 404")
        return self.feed[url]

    @property
    def settings(self) -> Settings:
        return Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true", **self.env})

    @property
    def scope(self) -> ScopeStep:
        return ScopeStep(self.settings, self.tables, self.directory, self.leases, self.fetch)

    @property
    def discovery(self) -> DiscoveryStep:
        return DiscoveryStep(self.settings, self.tables, self.graph, FleetLedger(self.tables))

    @property
    def rings(self) -> RingsStep:
        return RingsStep(self.settings, self.tables)

    @property
    def enabling(self) -> EnablingStep:
        return EnablingStep(self.settings, self.tables, self.arm, FleetLedger(self.tables), self.leases)

    @property
    def follow_up(self) -> FollowUpStep:
        return FollowUpStep(self.settings, self.tables, self.graph, FleetLedger(self.tables))

    @property
    def closing(self) -> ClosingStep:
        return ClosingStep(
            self.tables, self.alerts, self.leases, FleetLedger(self.tables), app_url="https://func.example"
        )

    def started(self, run_id: str = "daily-2026-11-20", **request) -> str:
        self.scope.start_run(StartRun(SweepRequest(run_id, Trigger.TIMER, **request), AS_OF))
        return run_id

    def discovered(self, run_id: str = "daily-2026-11-20", **request):
        self.started(run_id, **request)
        return self.discovery.discover_batch(DiscoverBatch(run_id, 0, AS_OF))


@pytest.fixture
def world() -> World:
    return World()
