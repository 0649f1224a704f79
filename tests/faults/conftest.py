"""The fault campaign's world: the end-to-end stack, with Azurite reached through a StorageProxy.

Every test in a `test_fault_*` module is one fault (or one case of a parametrized fault),
and must hold its runs to `assert_campaign_invariants`; a fault test that checks no run
fails here. A full campaign writes its figures to tests/artifacts/fault-campaign.json.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local_stack.simulator.fates import FateLedger
from tests.e2e.conftest import make_stack  # noqa: F401 - the end-to-end stack, here behind the proxy
from tests.e2e.support import QUICK_FOLLOW_UP
from tests.faults.storage_proxy import StorageProxy
from tests.faults.support import CAMPAIGN, Trial, write_campaign

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "fault-campaign.json"
FAULT_MODULE_PREFIX = "test_fault_"


def is_fault_case(item: pytest.Item) -> bool:
    return item.path.name.startswith(FAULT_MODULE_PREFIX)


@pytest.fixture
def azurite(azurite):
    """Here the stacks reach the session's Azurite through a proxy that can fail what it is told to."""
    with StorageProxy(azurite.ports["Table"]) as proxy:
        yield proxy


@pytest.fixture
def storage(azurite) -> StorageProxy:
    return azurite


@pytest.fixture
def make_trial(make_stack, storage, request):  # noqa: F811 - make_stack is the imported fixture
    """Build a trial around a fleet: the app, the simulator, the alert receiver and the storage proxy."""

    def make(fleet, *, env=None, faults=None) -> Trial:
        fleet.fates = fleet.fates or FateLedger.of(fleet)  # decided before the sweep changes the fleet
        stack, sim, receiver = make_stack(fleet, env={**QUICK_FOLLOW_UP, **(env or {})}, faults=faults)
        return Trial(stack, sim, receiver, storage, fault=request.node.nodeid)

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "call":
        item.passed_its_call = outcome.get_result().passed


@pytest.fixture(autouse=True)
def _held_to_the_invariants(request):
    """A fault case that passes must have checked at least one run against the campaign's invariants."""
    before = len(CAMPAIGN)
    yield
    if (
        is_fault_case(request.node)
        and getattr(request.node, "passed_its_call", False)
        and not any(f.fault == request.node.nodeid for f in CAMPAIGN[before:])
    ):
        pytest.fail(f"{request.node.nodeid} checked no run with assert_campaign_invariants")


def pytest_sessionfinish(session, exitstatus):
    """After a whole, green campaign, write its figures (a partial run writes nothing)."""
    cases = [item.nodeid for item in session.items if is_fault_case(item)]
    every_module = {p.name for p in Path(__file__).parent.glob(f"{FAULT_MODULE_PREFIX}*.py")}
    collected = {item.path.name for item in session.items if is_fault_case(item)}
    checked = {f.fault for f in CAMPAIGN}
    if (
        exitstatus == 0
        and collected == every_module
        and all(case in checked for case in cases)
        and not session.config.option.keyword
    ):
        write_campaign(str(ARTIFACT), cases)
