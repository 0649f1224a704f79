"""Fleet simulator: the slice of ARM and Resource Graph the sweeper calls, on loopback.

Start it in-process::

    with FleetSimulator(generate_fleet(FleetSpec(seed=7)), clock=VirtualClock(start)) as sim:
        sim.base_url  # "http://127.0.0.1:PORT"

or as a process: ``python -m local_stack.simulator --machines 2000 --seed 7 --port 0``.
"""

from local_stack.simulator.agents import AgentModel, UpgradeBehaviour
from local_stack.simulator.extension_catalog import SUPPORTED_EXTENSION_TYPES
from local_stack.simulator.extensions import Extension, ExtensionBehaviour, ExtensionModel
from local_stack.simulator.fates import ExtensionFateRules, Fate, FateLedger, FateRules
from local_stack.simulator.faults import FaultSettings
from local_stack.simulator.fleet import Fleet, Machine, Subscription
from local_stack.simulator.generator import FleetSpec, generate_fleet
from local_stack.simulator.scripted import Script
from local_stack.simulator.server import ChangeRecord, FleetSimulator, RequestRecord
from local_stack.simulator.throttling import ThrottleSettings
from local_stack.simulator.timing import Latency

__all__ = [
    "SUPPORTED_EXTENSION_TYPES",
    "AgentModel",
    "ChangeRecord",
    "Extension",
    "ExtensionBehaviour",
    "ExtensionModel",
    "ExtensionFateRules",
    "Fate",
    "FateLedger",
    "FateRules",
    "FaultSettings",
    "Fleet",
    "FleetSimulator",
    "FleetSpec",
    "Latency",
    "Machine",
    "RequestRecord",
    "Script",
    "Subscription",
    "ThrottleSettings",
    "UpgradeBehaviour",
    "generate_fleet",
]
