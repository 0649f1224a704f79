"""One estate, swept three ways one after another, each against a fresh simulator.

Each sweep gets its own simulator process (the same seeded estate, full buckets), and the
product its own in-memory Azurite, so no sweep inherits another's state or spent budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from local_stack.azurite import start_azurite
from local_stack.bench.estates import Estate, Floor
from local_stack.bench.processes import Child, Cost
from local_stack.bench.simulator_process import SimulatorProcess, SimulatorStats
from local_stack.bench.sweeps import ACTIVITY_SLOTS, PRODUCT, SweepRun, sweep_with_client, sweep_with_product


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    peak_rss_mb: float
    peak_threads: int  # the process's threads alive at once (/proc), sampled


@dataclass(frozen=True)
class Measured:
    """One sweep of one estate: the sweeper's account, the simulator's, and Azurite's cost."""

    estate: Estate
    floor: Floor
    run: SweepRun
    azure: SimulatorStats
    storage: Cost | None  # Azurite (product only)

    @property
    def complete(self) -> bool:
        return self.run.sent == self.run.planned

    @property
    def enabling_s(self) -> float:
        """End of discovery to the last PATCH answered (service time included); projected if capped."""
        if not self.azure.patches:
            return 0.0
        measured = self.azure.last_patch_at + self.estate.latency.write_s - self.run.discovered_at
        return measured if self.complete else measured * self.run.planned / max(1, self.run.sent)

    @property
    def sweep_s(self) -> float:
        measured = self.run.finished_at - self.run.started_at
        return measured if self.complete else measured - self.enabling_s_measured + self.enabling_s

    def phases(self) -> list[Phase]:
        """The product's process by phase: discovery, enabling (to the last PATCH answered) and closing
        (recording the results, counting, the digest)."""
        bounds = (
            ("discovery", self.run.started_at, self.run.discovered_at),
            ("enabling", self.run.discovered_at, self.run.discovered_at + self.enabling_s_measured),
            ("closing", self.run.discovered_at + self.enabling_s_measured, self.run.finished_at),
        )
        phases = []
        for name, start, end in bounds:
            within = [(mb, threads) for at, mb, threads in self.run.rss_samples if start <= at <= end]
            phases.append(
                Phase(
                    name,
                    end - start,
                    max((mb for mb, _ in within), default=0.0),
                    max((threads for _, threads in within), default=0),
                )
            )
        return phases

    @property
    def enabling_s_measured(self) -> float:
        return self.azure.last_patch_at + self.estate.latency.write_s - self.run.discovered_at


def measure(
    estate: Estate,
    kind: str,
    *,
    activity_workers: int = 8,
    activity_slots: int = ACTIVITY_SLOTS,
    cap_s: float | None = None,
    timeout_s: float = 7200,
) -> Measured:
    with SimulatorProcess(estate) as simulator:
        url = simulator.ready.base_url
        if kind == PRODUCT:
            with start_azurite() as azurite:
                child = Child(
                    sweep_with_product,
                    url,
                    azurite.connection_string,
                    activity_workers,
                    timeout_s,
                    activity_slots,
                    daemon=not activity_slots,  # its worker processes are its children
                )
                run: SweepRun = child.receive(timeout_s + 60)
                storage: Cost | None = Cost.of_pid(azurite.process.pid)
                child.close()
        else:
            child = Child(sweep_with_client, kind, url, cap_s)
            run = child.receive(timeout_s + 60)
            storage = None
            child.close()
        return Measured(estate, simulator.ready.floor, run, simulator.stats(), storage)
