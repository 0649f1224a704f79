"""End-to-end fixtures: simulator + Azurite + the real app on the local Durable host."""

from __future__ import annotations

import pytest

from local_stack.alert_receiver import AlertReceiver, load_alert_schema
from local_stack.clock import VirtualClock
from local_stack.runner import LocalStack
from local_stack.simulator import FleetSimulator


@pytest.fixture
def make_stack(azurite, table_prefix):
    """Build a stack around a fleet; returns (stack, simulator, receiver)."""
    opened = []

    def make(fleet, *, env=None, throttle_scale=1.0, faults=None):
        clock = VirtualClock(fleet.created_at)
        sim = FleetSimulator(fleet, clock, throttle_scale=throttle_scale, faults=faults).start()
        receiver = AlertReceiver(schema=load_alert_schema()).start()  # every alert must match the schema
        settings = {
            "ARM_ENDPOINT": sim.base_url,
            "TABLE_PREFIX": table_prefix,
            "TASKHUB_NAME": "e2e",
            "LOGIC_APP_WEBHOOK_URL": receiver.url,
            "SUBSCRIPTION_ALLOW_LIST": "",
            "DRY_RUN": "false",
            **(env or {}),
        }
        stack = LocalStack(settings, clock=clock, storage_connection=azurite.connection_string).__enter__()
        opened.append((stack, sim, receiver))
        return stack, sim, receiver

    yield make
    for stack, sim, receiver in opened:
        stack.__exit__(None, None, None)
        sim.stop()
        receiver.stop()
