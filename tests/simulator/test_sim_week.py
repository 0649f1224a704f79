"""A week that changes: machines onboarded, machines reconnecting, a new agent release shipping."""

from __future__ import annotations

from datetime import timedelta

from sim_support import AGENT_QUERY, HC_API, SUB_A, T0, Api, behaviour, small_fleet

from local_stack.simulator import FleetSpec, Machine, generate_fleet
from local_stack.simulator.agents import AgentModel
from local_stack.simulator.generator import next_release

ENABLE = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}
LINUX_1_67, LINUX_1_68 = "1.67.03504.1320", "1.68.03587.1133"


def rows(api: Api) -> dict[str, dict]:
    answer = api.query(AGENT_QUERY, subscriptions=[SUB_A], **{"$top": 1000})
    assert answer.status_code == 200, answer.text
    return {row["name"]: row for row in answer.json()["data"]}


def test_a_machine_onboarded_later_is_absent_until_then_then_connected_without_the_flag(make_sim):
    arrives = T0 + timedelta(days=2)
    sim = make_sim(small_fleet([Machine.build(SUB_A, "rg-one", "newcomer", onboard_at=arrives)]))
    api = Api(sim.base_url)
    newcomer = sim.fleet.find_machine(SUB_A, "rg-one", "newcomer")
    assert "newcomer" not in rows(api)
    assert api.get(f"{newcomer.id}?api-version={HC_API}").status_code == 404

    sim.clock.advance_to(arrives + timedelta(minutes=1))
    row = rows(api)["newcomer"]
    assert row["status"] == "Connected" and row["autoUpgrade"] is None
    assert (
        api.get(f"{newcomer.id}?api-version={HC_API}")
        .json()["properties"]["lastStatusChange"]
        .startswith(arrives.strftime("%Y-%m-%dT%H:%M"))
    )
    assert [c.cause for c in sim.changes_for(newcomer.id)] == ["onboard", "onboard"]


def test_a_disconnected_machine_reconnects_and_then_acts_on_its_flag(make_sim):
    back = T0 + timedelta(days=1)
    sim = make_sim(
        small_fleet(
            [
                Machine.build(
                    SUB_A,
                    "rg-one",
                    "away",
                    status="Disconnected",
                    auto_upgrade=True,
                    enabled_at=T0 - timedelta(days=30),
                    reconnect_at=back,
                    behaviour=behaviour("succeed", delay_days=1),
                )
            ]
        )
    )
    api = Api(sim.base_url)
    sim.clock.advance_to(back - timedelta(minutes=1))
    assert rows(api)["away"]["status"] == "Disconnected"
    sim.clock.advance_to(back + timedelta(minutes=1))
    assert rows(api)["away"]["status"] == "Connected"
    assert rows(api)["away"]["agentVersion"] == "1.60.03293.809"  # upgrades only after the delay, counted from now
    sim.clock.advance_to(back + timedelta(days=2, hours=12))
    assert rows(api)["away"]["agentVersion"] == LINUX_1_67


def test_agents_current_before_a_release_upgrade_in_their_first_window_after_it(make_sim):
    ships = T0 + timedelta(days=4)
    model = AgentModel(later_releases=((ships, next_release(AgentModel().latest_versions)),))
    fleet = small_fleet(
        [
            Machine.build(SUB_A, "rg-one", "current", agent_version=LINUX_1_67, behaviour=behaviour("succeed")),
            Machine.build(SUB_A, "rg-one", "behind", agent_version="1.60.03293.809", behaviour=behaviour("succeed")),
        ]
    )
    fleet.model = model
    sim = make_sim(fleet)
    api = Api(sim.base_url)
    for name in ("current", "behind"):
        machine = sim.fleet.find_machine(SUB_A, "rg-one", name)
        assert api.patch(f"{machine.id}?api-version={HC_API}", ENABLE).status_code == 200
    sim.clock.advance_to(ships - timedelta(minutes=1))
    assert {n: rows(api)[n]["agentVersion"] for n in ("current", "behind")} == {
        "current": LINUX_1_67,
        "behind": LINUX_1_67,
    }
    sim.clock.advance_to(ships + timedelta(days=1))
    after = rows(api)
    assert after["current"]["agentVersion"] == LINUX_1_68 == after["behind"]["agentVersion"]
    assert after["current"]["lastAttemptDesiredVersion"] == LINUX_1_68


def test_the_week_options_add_to_a_generated_fleet_and_leave_the_rest_as_it_was():
    plain = generate_fleet(FleetSpec(seed=3, machines=400, subscriptions=5))
    week = generate_fleet(
        FleetSpec(
            seed=3,
            machines=400,
            subscriptions=5,
            onboard_share=0.05,
            reconnect_share=0.5,
            release_after=timedelta(days=3),
        )
    )
    assert [m.properties for m in week.machines[:400]] == [m.properties for m in plain.machines]
    onboarded = [m for m in week.machines if m.onboard_at is not None]
    assert len(onboarded) == 20 and all(T0 <= m.onboard_at <= T0 + timedelta(days=7) for m in onboarded)
    assert all(week.fates[m.id].reason == "not onboarded yet" for m in onboarded)
    away = [m for m in week.machines[:400] if m.properties["status"] in ("Disconnected", "Error")]
    assert sum(1 for m in away if m.reconnect_at is not None) == round(len(away) * 0.5)
    [(ships, versions)] = week.model.later_releases
    assert ships == T0 + timedelta(days=3) and versions["linux"] == LINUX_1_68
