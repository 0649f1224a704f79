"""Fixtures for the fleet simulator tests: simulators on demand and the shared 2,000-machine fleet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sim_support import T0, Api, small_fleet

from local_stack.clock import VirtualClock
from local_stack.simulator import Fleet, FleetSimulator, FleetSpec, generate_fleet


@pytest.fixture
def make_sim() -> Callable[..., FleetSimulator]:
    """Start simulators on demand; all are stopped after the test."""
    started: list[FleetSimulator] = []

    def make(fleet: Fleet | None = None, **kwargs: Any) -> FleetSimulator:
        kwargs.setdefault("clock", VirtualClock(T0))
        sim = FleetSimulator(fleet or small_fleet(), **kwargs).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim) -> FleetSimulator:
    return make_sim()


@pytest.fixture
def api(sim) -> Api:
    return Api(sim.base_url)


@pytest.fixture(scope="session")
def big_fleet_spec() -> FleetSpec:
    return FleetSpec(seed=7, subscriptions=20, machines=2000, now=T0)


@pytest.fixture(scope="session")
def big_sim(big_fleet_spec):
    """The default 2,000-machine fleet; read-only tests share it (use a fresh token each)."""
    sim = FleetSimulator(generate_fleet(big_fleet_spec), clock=VirtualClock(T0)).start()
    yield sim
    sim.stop()
