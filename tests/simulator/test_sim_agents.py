"""Agents over a virtual clock: upgrade windows, failures, retries, disconnects, deletes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sim_support import AGENT_QUERY, HC_API, SUB_A, T0, Api, behaviour, small_fleet

from local_stack.simulator import Machine
from local_stack.simulator.agents import AgentModel
from local_stack.simulator.fleet import one_release_behind

ENABLE = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": True}}}
WIN_LATEST, LINUX_LATEST = "1.67.03504.3207", "1.67.03504.1320"


def _fleet():
    extra = [
        Machine.build(
            SUB_A,
            "rg-agents",
            "ok-win",
            os_type="windows",
            agent_version="1.60.03293.2680",
            behaviour=behaviour("succeed", delay_days=2, offset_minutes=30),
        ),
        Machine.build(
            SUB_A,
            "rg-agents",
            "recover-lnx",
            agent_version="1.58.03224.693",
            behaviour=behaviour("recover", delay_days=1, offset_minutes=45, failures=1),
        ),
        Machine.build(
            SUB_A,
            "rg-agents",
            "stuck-lnx",
            agent_version="1.57.03197.640",
            behaviour=behaviour("stuck", delay_days=1, offset_minutes=5),
        ),
        Machine.build(
            SUB_A,
            "rg-agents",
            "silent-lnx",
            agent_version="1.57.03197.640",
            behaviour=behaviour("stuck-no-retry", delay_days=1, offset_minutes=5),
        ),
        Machine.build(SUB_A, "rg-agents", "old-150", agent_version="1.50.03025.500", behaviour=behaviour()),
        Machine.build(
            SUB_A, "rg-agents", "offline", agent_version="1.60.03293.809", status="Disconnected", behaviour=behaviour()
        ),
    ]
    return small_fleet(extra)


def _by_name(api: Api) -> dict[str, dict]:
    r = api.query(AGENT_QUERY, subscriptions=[SUB_A], **{"$top": 1000})
    assert r.status_code == 200, r.text
    return {row["name"]: row for row in r.json()["data"]}


@pytest.fixture
def agents_sim(make_sim):
    sim = make_sim(_fleet())
    api = Api(sim.base_url)
    for m in sim.fleet.machines:
        if m.resource_group == "rg-agents":
            assert api.patch(f"{m.id}?api-version={HC_API}", ENABLE).status_code == 200
    return sim, api


def test_upgrade_happens_in_the_off_peak_window_after_the_delay(agents_sim):
    sim, api = agents_sim
    ok = next(m for m in sim.fleet.machines if m.name == "ok-win")
    sim.clock.advance_to(datetime(2026, 8, 18, 0, 59, tzinfo=UTC))  # delay passed, window not yet
    row = _by_name(api)["ok-win"]
    assert row["agentVersion"] == "1.60.03293.2680" and row["lastAttemptStatus"] == ""
    sim.clock.advance_to(datetime(2026, 8, 18, 4, 0, tzinfo=UTC))
    row = _by_name(api)["ok-win"]
    assert row["agentVersion"] == WIN_LATEST
    assert row["lastAttemptStatus"] == "Success" and row["lastAttemptMessage"] == ""
    assert row["lastAttemptDesiredVersion"] == WIN_LATEST
    assert row["lastAttemptTimestamp"] == "2026-08-18T01:30:00.0000000Z"
    stamp = datetime.fromisoformat(row["lastAttemptTimestamp"])
    assert time(1, 0) <= stamp.time() <= time(3, 0)
    # GET agrees with ARG, and the change log says when and why
    props = api.get(f"{ok.id}?api-version={HC_API}").json()["properties"]
    assert props["agentVersion"] == WIN_LATEST and props["agentUpgrade"]["enableAutomaticUpgrade"] is True
    upgrade = [c for c in sim.changes_for(ok.id) if c.cause == "agent-upgrade"]
    assert {c.field: c.new for c in upgrade}["properties.agentVersion"] == WIN_LATEST
    assert all(c.at == stamp for c in upgrade)


def test_recoverable_failure_then_success(agents_sim):
    sim, api = agents_sim
    sim.clock.advance_to(datetime(2026, 8, 17, 6, 0, tzinfo=UTC))
    row = _by_name(api)["recover-lnx"]
    assert row["lastAttemptStatus"] == "Failed"
    assert row["lastAttemptMessage"].startswith("AZCM0165: Failed to download the agent package:")
    assert row["lastAttemptTimestamp"] == "2026-08-17T01:45:00.0000000Z"
    assert row["agentVersion"] == "1.58.03224.693"
    sim.clock.advance_to(datetime(2026, 8, 20, 1, 44, tzinfo=UTC))  # retry is 3 days later
    assert _by_name(api)["recover-lnx"]["lastAttemptStatus"] == "Failed"
    sim.clock.advance_to(datetime(2026, 8, 20, 2, 0, tzinfo=UTC))
    row = _by_name(api)["recover-lnx"]
    assert (row["lastAttemptStatus"], row["agentVersion"]) == ("Success", LINUX_LATEST)
    assert row["lastAttemptTimestamp"] == "2026-08-20T01:45:00.0000000Z" and row["lastAttemptMessage"] == ""


def test_stuck_agents_stay_failed(agents_sim):
    sim, api = agents_sim
    sim.clock.advance_to(datetime(2026, 8, 17, 6, 0, tzinfo=UTC))
    rows = _by_name(api)
    for name in ("stuck-lnx", "silent-lnx"):
        assert rows[name]["lastAttemptStatus"] == "Failed"
        assert rows[name]["lastAttemptTimestamp"] == "2026-08-17T01:05:00.0000000Z"
    sim.clock.advance_to(T0 + timedelta(days=40))
    rows = _by_name(api)
    for name in ("stuck-lnx", "silent-lnx"):
        assert rows[name]["lastAttemptStatus"] == "Failed" and rows[name]["agentVersion"] == "1.57.03197.640"
    # the retrying kind kept trying every 3 days; the silent one never tried again
    assert rows["stuck-lnx"]["lastAttemptTimestamp"] == "2026-09-22T01:05:00.0000000Z"
    assert rows["silent-lnx"]["lastAttemptTimestamp"] == "2026-08-17T01:05:00.0000000Z"


def test_old_and_disconnected_agents_never_change(agents_sim):
    sim, api = agents_sim
    before = _by_name(api)
    sim.clock.advance_to(T0 + timedelta(days=60))
    after = _by_name(api)
    for name in ("old-150", "offline"):
        assert after[name] == before[name]
        assert after[name]["autoUpgrade"] is True and after[name]["lastAttemptStatus"] == ""
        m = next(m for m in sim.fleet.machines if m.name == name)
        assert [c.cause for c in sim.changes_for(m.id)] == ["patch"]


def test_disabling_before_the_window_cancels_the_upgrade(agents_sim):
    sim, api = agents_sim
    ok = next(m for m in sim.fleet.machines if m.name == "ok-win")
    off = {"properties": {"agentUpgrade": {"enableAutomaticUpgrade": False}}}
    assert api.patch(f"{ok.id}?api-version={HC_API}", off).status_code == 200
    sim.clock.advance_to(T0 + timedelta(days=10))
    assert _by_name(api)["ok-win"]["agentVersion"] == "1.60.03293.2680"


def test_disconnect_and_delete_dynamics(make_sim):
    leaving = Machine.build(
        SUB_A, "rg-agents", "leaving", behaviour=behaviour(delay_days=3), disconnect_at=T0 + timedelta(days=1, hours=5)
    )
    doomed = Machine.build(SUB_A, "rg-agents", "doomed", delete_at=T0 + timedelta(days=2))
    sim = make_sim(small_fleet([leaving, doomed]))
    api = Api(sim.base_url)
    assert api.patch(f"{leaving.id}?api-version={HC_API}", ENABLE).status_code == 200
    assert api.get(f"{doomed.id}?api-version={HC_API}").status_code == 200

    sim.clock.advance_to(T0 + timedelta(days=10))
    rows = _by_name(api)
    assert "doomed" not in rows
    r = api.get(f"{doomed.id}?api-version={HC_API}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    assert api.patch(f"{doomed.id}?api-version={HC_API}", ENABLE).status_code == 404
    assert sim.machine(doomed.id) is None
    changes = [(c.field, c.cause, c.at) for c in sim.changes_for(doomed.id)]
    assert changes == [("deleted", "delete", T0 + timedelta(days=2))]

    row = rows["leaving"]
    assert row["status"] == "Disconnected"
    assert row["lastStatusChange"] == "2026-08-16T17:00:00.0000000Z"
    assert row["agentVersion"] == "1.60.03293.809" and row["lastAttemptStatus"] == ""  # went away first
    assert {c.cause for c in sim.changes_for(leaving.id)} == {"patch", "disconnect"}


def test_pre_enabled_machines_follow_the_model_from_enabled_at(make_sim):
    early = Machine.build(
        SUB_A,
        "rg-agents",
        "early",
        agent_version="1.62.03377.900",
        auto_upgrade=True,
        enabled_at=T0 - timedelta(days=2),
        behaviour=behaviour(delay_days=1, offset_minutes=0),
    )
    sim = make_sim(small_fleet([early]))
    row = _by_name(Api(sim.base_url))["early"]
    assert row["agentVersion"] == LINUX_LATEST  # was due at 2026-08-15T01:00, before the clock started
    assert row["lastAttemptTimestamp"] == "2026-08-15T01:00:00.0000000Z"


def test_first_slot():
    model = AgentModel()
    at = datetime(2026, 8, 18, 2, 0, tzinfo=UTC)
    assert model.first_slot(at, timedelta(minutes=30)) == datetime(2026, 8, 19, 1, 30, tzinfo=UTC)
    assert model.first_slot(at, timedelta(minutes=90)) == datetime(2026, 8, 18, 2, 30, tzinfo=UTC)


def test_one_release_behind_helper():
    model = AgentModel()
    assert one_release_behind(model, "windows").startswith("1.66.") and one_release_behind(model, "linux") != (
        one_release_behind(model, "windows")
    )
    with pytest.raises(ValueError):
        one_release_behind(model, "aix")


def test_one_release_behind_fails_every_attempt_and_stays_behind(make_sim):
    n_1 = one_release_behind(AgentModel(), "linux")
    machine = Machine.build(
        SUB_A,
        "rg-agents",
        "behind-fails",
        agent_version=n_1,
        auto_upgrade=False,
        behaviour=behaviour("stuck", delay_days=1, offset_minutes=20),
    )
    sim = make_sim(small_fleet([machine]))
    api = Api(sim.base_url)
    assert api.patch(f"{machine.id}?api-version={HC_API}", ENABLE).status_code == 200
    stamps = []
    for day in (1, 4, 7, 10):  # first attempt on the 17th, then every 3 days
        sim.clock.advance_to(datetime(2026, 8, 16 + day, 3, 0, tzinfo=UTC))
        row = _by_name(api)["behind-fails"]
        assert row["agentVersion"] == n_1 and row["autoUpgrade"] is True
        assert row["lastAttemptStatus"] == "Failed" and row["lastAttemptMessage"].startswith("AZCM")
        assert row["lastAttemptDesiredVersion"] == LINUX_LATEST
        stamps.append(row["lastAttemptTimestamp"])
    assert stamps == [
        "2026-08-17T01:20:00.0000000Z",
        "2026-08-20T01:20:00.0000000Z",
        "2026-08-23T01:20:00.0000000Z",
        "2026-08-26T01:20:00.0000000Z",
    ]


@pytest.mark.parametrize("version", [one_release_behind(AgentModel(), "linux"), LINUX_LATEST])
def test_an_agent_that_counts_itself_current_makes_no_attempt(make_sim, version):
    machine = Machine.build(
        SUB_A,
        "rg-agents",
        "quiet",
        agent_version=version,
        auto_upgrade=False,
        behaviour=behaviour("never-attempts", delay_days=1),
    )
    sim = make_sim(small_fleet([machine]))
    api = Api(sim.base_url)
    assert api.patch(f"{machine.id}?api-version={HC_API}", ENABLE).status_code == 200
    sim.clock.advance_to(T0 + timedelta(days=30))
    assert api.get(f"{machine.id}?api-version={HC_API}").json()["properties"]["agentUpgrade"] == {
        "enableAutomaticUpgrade": True
    }
    row = _by_name(api)["quiet"]
    assert row["agentVersion"] == version and row["lastAttemptStatus"] == row["lastAttemptTimestamp"] == ""
    assert [c.cause for c in sim.changes_for(machine.id)] == ["patch"]
