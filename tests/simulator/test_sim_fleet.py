"""The seeded generator: determinism and a mix that covers every category the product handles."""

from __future__ import annotations

import re
import uuid
from collections import Counter

from local_stack.simulator import FleetSpec, generate_fleet
from local_stack.simulator.agents import parse_version
from local_stack.simulator.fleet import MACHINE_NAME

ODD = ("", "1.58", "1.60.03293", "01.059.03224.0693", "1.61.03310848", "1.62.0-beta", "garbage")


def _snapshot(fleet):
    return (
        fleet.tenant_id,
        [
            (s.subscription_id, s.display_name, s.state, s.readable, s.writable, sorted(s.locked_resource_groups))
            for s in fleet.subscriptions
        ],
        [
            (
                m.id,
                m.location,
                m.properties,
                m.tags,
                [e.name for e in m.extensions],
                m.locked,
                m.write_forbidden,
                m.behaviour,
                m.enabled_at,
                m.disconnect_at,
                m.delete_at,
            )
            for m in fleet.machines
        ],
    )


def test_same_seed_same_fleet():
    spec = FleetSpec(seed=11, subscriptions=6, machines=300)
    assert _snapshot(generate_fleet(spec)) == _snapshot(
        generate_fleet(FleetSpec(seed=11, subscriptions=6, machines=300))
    )
    other = generate_fleet(FleetSpec(seed=12, subscriptions=6, machines=300))
    assert _snapshot(other) != _snapshot(generate_fleet(spec))
    assert other.subscriptions[0].subscription_id != generate_fleet(spec).subscriptions[0].subscription_id


def test_mix_covers_every_category(big_sim, big_fleet_spec):
    fleet = big_sim.fleet
    machines = fleet.machines
    assert len(machines) == 2000 and len(fleet.subscriptions) == 20
    for sub in fleet.subscriptions:
        assert str(uuid.UUID(sub.subscription_id)) == sub.subscription_id

    states = Counter(s.state for s in fleet.subscriptions)
    assert states["Disabled"] == 2 and states["Warned"] == 1 and states["PastDue"] == 1
    assert sum(not s.writable and s.readable for s in fleet.subscriptions) == 1
    assert sum(not s.readable for s in fleet.subscriptions) == 1
    assert sum(len(s.locked_resource_groups) for s in fleet.subscriptions) == 1

    statuses = Counter(m.properties["status"] for m in machines)
    assert set(statuses) == {"Connected", "Disconnected", "Error", "Expired", "AwaitingConnection", "Provisioning"}
    assert statuses["Connected"] > 0.75 * len(machines)

    assert Counter(m.os_type for m in machines).keys() == {"windows", "linux"}
    versions = [m.properties.get("agentVersion") for m in machines]
    assert sum("agentVersion" not in m.properties for m in machines) >= 1
    for odd in ODD:
        assert odd in versions, odd
    parsed = [parse_version(v) for v in versions]
    supported = sum(1 for p in parsed if p and p >= (1, 56))
    too_old = sum(1 for p in parsed if p and (1, 40) <= p < (1, 56))
    assert supported > 0.7 * len(machines) and too_old > 0.1 * len(machines)
    assert any(v and v.startswith("1.50.") for v in versions)

    upgrades = [m.properties.get("agentUpgrade") for m in machines]
    assert any(u is None for u in upgrades)
    assert any(u == {"enableAutomaticUpgrade": False} for u in upgrades)
    assert any(u == {"enableAutomaticUpgrade": True} for u in upgrades)  # pending
    assert any(u and u.get("lastAttemptStatus") == "Failed" and u.get("lastAttemptMessage") for u in upgrades)
    assert any(u and u.get("lastAttemptStatus") == "Success" for u in upgrades)

    tag = (big_fleet_spec.exclusion_tag, big_fleet_spec.exclusion_value)
    assert 20 <= sum(m.tags.get(tag[0]) == tag[1] for m in machines) <= 100
    assert any(m.locked for m in machines) and any(m.write_forbidden for m in machines)
    assert Counter(m.behaviour.outcome for m in machines).keys() == {"succeed", "recover", "stuck", "stuck-no-retry"}
    assert any(m.extensions for m in machines) and any(not m.extensions for m in machines)
    assert any(m.disconnect_at for m in machines) and any(m.delete_at for m in machines)
    assert all(MACHINE_NAME.fullmatch(m.name) for m in machines)
    assert all(re.fullmatch(r"[-\w._()]{1,90}", m.resource_group) for m in machines)
    assert len({m.id.lower() for m in machines}) == len(machines)


def test_small_generated_fleet_works():
    fleet = generate_fleet(FleetSpec(seed=1, subscriptions=1, machines=5))
    assert len(fleet.machines) == 5 and len(fleet.subscriptions) == 1
    assert fleet.subscriptions[0].readable and fleet.subscriptions[0].state == "Enabled"


def test_conflicts_are_opt_in_and_leave_the_rest_of_the_fleet_alone():
    plain = generate_fleet(FleetSpec(seed=5, subscriptions=4, machines=400))
    busy = generate_fleet(FleetSpec(seed=5, subscriptions=4, machines=400, conflict_share=0.05))
    assert not any(m.write_conflicts for m in plain.machines)
    held = [m for m in busy.machines if m.write_conflicts]
    assert len(held) == 20 and all(1 <= m.write_conflicts <= 3 for m in held)
    assert {m.conflict_code for m in held} == {"Conflict", "AnotherOperationInProgress"}
    assert _snapshot(plain) == _snapshot(busy)  # every other draw is the same
