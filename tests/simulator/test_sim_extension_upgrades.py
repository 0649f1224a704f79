"""Extensions over the virtual clock: the platform upgrades supported, opted-in ones; failures roll back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sim_support import EXTENSIONS_QUERY, HC_API, SUB_A, T0, Api, small_fleet

from local_stack.simulator import Extension, ExtensionBehaviour, Machine
from local_stack.simulator.extensions import FAILS_AND_ROLLS_BACK, ExtensionModel, next_hour, version_key

AMA = ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent")
UPDATE_MANAGER = ("Microsoft.CPlat.Core", "WindowsOsUpdateExtension")
KEY_VAULT = ("Microsoft.Azure.KeyVault", "KeyVaultForWindows")
MDE = ("Microsoft.Azure.AzureDefenderForServers", "MDE.Windows")
DEPENDENCY = ("Microsoft.Azure.Monitoring.DependencyAgent", "DependencyAgentWindows")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 8, day, hour, minute, tzinfo=UTC)


def soon(**delay: float) -> ExtensionBehaviour:
    return ExtensionBehaviour(delay=timedelta(**delay))


def rolls_back(failures: int | None = 1) -> ExtensionBehaviour:
    return ExtensionBehaviour(
        outcome=FAILS_AND_ROLLS_BACK,
        delay=timedelta(days=1),
        failures=failures,
        rollback_after=timedelta(hours=2),
        failure_message="Extension upgrade failed: boom",
    )


def _estate(*machines: Machine):
    return small_fleet(list(machines))


def _rows(api: Api) -> dict[str, dict]:
    r = api.query(EXTENSIONS_QUERY, subscriptions=[SUB_A], **{"$top": 1000})
    assert r.status_code == 200, r.text
    return {f"{row['machineId'].rsplit('/', 1)[1]}/{row['name']}": row for row in r.json()["data"]}


@pytest.fixture
def estate(make_sim):
    """One Windows machine with an extension of every fate the platform can give one."""
    machine = Machine.build(
        SUB_A,
        "rg-ext",
        "ext-01",
        os_type="windows",
        extensions=[
            Extension.build(*AMA, "1.30.0.0", behaviour=soon(days=1, minutes=20)),
            Extension.build(*UPDATE_MANAGER, "1.0.21.0", auto_upgrade=None, behaviour=rolls_back()),
            Extension.build(*KEY_VAULT, "3.0.2258.3", auto_upgrade=False, behaviour=soon(hours=1)),
            Extension.build(*MDE, "1.0.9.7", behaviour=soon(hours=1)),
            Extension.build(
                *DEPENDENCY,
                "9.10.17.25320",
                failed="Extension installation failed: exit code 1",
                behaviour=soon(hours=1),
            ),
        ],
    )
    sim = make_sim(_estate(machine))
    return sim, Api(sim.base_url), machine


def test_an_opted_in_supported_extension_is_upgraded_in_the_first_hourly_slot_after_the_delay(estate):
    sim, api, machine = estate
    sim.clock.advance_to(at(16, 12, 59))  # created 15th 12:00, delay a day and 20 minutes: slot 13:00
    row = _rows(api)["ext-01/AzureMonitorWindowsAgent"]
    assert (row["version"], row["statusLevel"]) == ("1.30.0.0", "Information")
    sim.clock.advance_to(at(16, 13, 0))
    row = _rows(api)["ext-01/AzureMonitorWindowsAgent"]
    assert (row["version"], row["statusLevel"], row["autoUpgrade"]) == ("1.34.0.0", "Information", True)
    ext_id = f"{machine.id}/extensions/AzureMonitorWindowsAgent"
    body = api.get(f"{ext_id}?api-version={HC_API}").json()
    assert body["properties"]["typeHandlerVersion"] == body["properties"]["instanceView"]["typeHandlerVersion"]
    assert body["properties"]["typeHandlerVersion"] == "1.34.0.0"
    assert [(c.field, c.old, c.new, c.cause, c.at) for c in sim.changes_for(ext_id)] == [
        (
            "extensions/AzureMonitorWindowsAgent.properties.typeHandlerVersion",
            "1.30.0.0",
            "1.34.0.0",
            "extension-upgrade",
            at(16, 13),
        ),
        (
            "extensions/AzureMonitorWindowsAgent.properties.instanceView.typeHandlerVersion",
            "1.30.0.0",
            "1.34.0.0",
            "extension-upgrade",
            at(16, 13),
        ),
    ]
    assert sim.changes_for(machine.id) == []  # the machine's own properties did not move
    assert len(sim.changes_for(machine.id, include_extensions=True)) >= 2


def test_a_failed_upgrade_shows_error_then_rolls_back_then_succeeds_on_the_next_attempt(estate):
    sim, api, machine = estate
    key = "ext-01/WindowsOsUpdateExtension"
    sim.clock.advance_to(at(16, 12, 30))  # absent flag: opted in by default; slot 16th 12:00, fails
    row = _rows(api)[key]
    assert row["autoUpgrade"] is None and row["version"] == "1.0.21.0"
    assert (row["statusLevel"], row["statusCode"], row["statusMessage"]) == (
        "Error",
        "1",
        "Extension upgrade failed: boom",
    )
    assert row["provisioningState"] == "Succeeded"
    sim.clock.advance_to(at(16, 14, 30))  # rolled back at 14:00: healthy again, same version
    row = _rows(api)[key]
    assert (row["version"], row["statusLevel"], row["statusCode"]) == ("1.0.21.0", "Information", "0")
    assert row["statusMessage"] == "Extension Message: WindowsOsUpdateExtension is running"
    sim.clock.advance_to(at(16, 15, 0))  # the next slot an hour after the rollback: succeeds
    assert _rows(api)[key]["version"] == "1.0.24.0"
    ext_id = f"{machine.id}/extensions/WindowsOsUpdateExtension"
    assert [(c.field.rsplit(".", 1)[1], c.new, c.cause, c.at) for c in sim.changes_for(ext_id)] == [
        ("code", "1", "extension-upgrade", at(16, 12)),
        ("level", "Error", "extension-upgrade", at(16, 12)),
        ("message", "Extension upgrade failed: boom", "extension-upgrade", at(16, 12)),
        ("code", "0", "extension-rollback", at(16, 14)),
        ("level", "Information", "extension-rollback", at(16, 14)),
        ("message", "Extension Message: WindowsOsUpdateExtension is running", "extension-rollback", at(16, 14)),
        ("typeHandlerVersion", "1.0.24.0", "extension-upgrade", at(16, 15)),
        ("typeHandlerVersion", "1.0.24.0", "extension-upgrade", at(16, 15)),
    ]


def test_opted_out_unsupported_and_failed_installs_never_change(estate):
    sim, api, machine = estate
    before = _rows(api)
    sim.clock.advance_to(T0 + timedelta(days=30))
    after = _rows(api)
    for name in ("KeyVaultForWindows", "MDE.Windows", "DependencyAgentWindows"):
        assert after[f"ext-01/{name}"] == before[f"ext-01/{name}"], name
        assert sim.changes_for(f"{machine.id}/extensions/{name}") == []
    failed = after["ext-01/DependencyAgentWindows"]
    assert (failed["provisioningState"], failed["statusLevel"], failed["statusMessage"]) == (
        "Failed",
        "Error",
        "Extension installation failed: exit code 1",
    )
    assert after["ext-01/KeyVaultForWindows"]["autoUpgrade"] is False


def test_every_attempt_can_fail_and_the_version_never_moves(make_sim):
    machine = Machine.build(
        SUB_A,
        "rg-ext",
        "stuck-ext",
        os_type="windows",
        extensions=[Extension.build(*AMA, "1.28.0.0", behaviour=rolls_back(failures=None))],
    )
    sim = make_sim(_estate(machine))
    api = Api(sim.base_url)
    sim.clock.advance_to(at(18, 12))
    row = _rows(api)["stuck-ext/AzureMonitorWindowsAgent"]
    assert row["version"] == "1.28.0.0"
    attempts = [
        c.at
        for c in sim.changes_for(f"{machine.id}/extensions/AzureMonitorWindowsAgent")
        if c.field.endswith("status.level") and c.new == "Error"
    ]
    # first slot the 16th 12:00, then every three hours (two of Error, one to the next slot) to the 18th 12:00
    assert attempts[:3] == [at(16, 12), at(16, 15), at(16, 18)] and len(attempts) == 17
    assert machine.extensions[0].attempts == 17


def test_disconnected_machines_get_no_extension_upgrade(make_sim):
    away = Machine.build(
        SUB_A,
        "rg-ext",
        "away",
        os_type="windows",
        status="Disconnected",
        extensions=[Extension.build(*AMA, "1.30.0.0", behaviour=soon(hours=2))],
    )
    leaving = Machine.build(
        SUB_A,
        "rg-ext",
        "leaving",
        os_type="windows",
        disconnect_at=T0 + timedelta(hours=1),
        extensions=[Extension.build(*AMA, "1.30.0.0", behaviour=soon(hours=2))],
    )
    sim = make_sim(_estate(away, leaving))
    sim.clock.advance_to(T0 + timedelta(days=10))
    rows = _rows(Api(sim.base_url))
    assert rows["away/AzureMonitorWindowsAgent"]["version"] == "1.30.0.0"
    assert rows["leaving/AzureMonitorWindowsAgent"]["version"] == "1.30.0.0"
    assert [c.field for c in sim.changes_for(leaving.id, include_extensions=True)] == [
        "properties.status",
        "properties.lastStatusChange",
    ]


def test_a_rollback_completes_even_if_the_machine_disconnects_meanwhile(make_sim):
    machine = Machine.build(
        SUB_A,
        "rg-ext",
        "flaky",
        os_type="windows",
        disconnect_at=at(16, 13),
        extensions=[Extension.build(*AMA, "1.30.0.0", behaviour=rolls_back())],
    )
    sim = make_sim(_estate(machine))
    sim.clock.advance_to(T0 + timedelta(days=5))
    row = _rows(Api(sim.base_url))["flaky/AzureMonitorWindowsAgent"]
    assert (row["version"], row["statusLevel"]) == ("1.30.0.0", "Information")  # failed at 12, back at 14


def test_hand_built_machines_get_their_latest_extensions_and_nothing_moves(make_sim):
    sim = make_sim()
    sim.clock.advance_to(T0 + timedelta(days=60))
    rows = _rows(Api(sim.base_url))
    assert {r["extensionType"] for r in rows.values()} == {
        "AzureMonitorWindowsAgent",
        "MDE.Windows",
        "AzureMonitorLinuxAgent",
        "MDE.Linux",
    }
    assert not [c for c in sim.changes if c.extension]


def test_helpers():
    assert next_hour(at(16, 12)) == at(16, 12) and next_hour(at(16, 12, 1)) == at(16, 13)
    assert version_key("1.10.0") > version_key("1.9.9") and version_key("1.0-beta") is None
    model = ExtensionModel()
    old = Extension.build("MICROSOFT.AZURE.MONITOR", "azuremonitorwindowsagent", "1.30.0.0")
    assert model.supports(old) and model.latest(old) == "1.34.0.0" and model.wants_upgrade(old)
    newer = Extension.build(*AMA, "1.99.0.0")
    assert not model.wants_upgrade(newer)  # never a downgrade
    with pytest.raises(ValueError):
        ExtensionBehaviour(outcome="explodes")
    with pytest.raises(ValueError):
        Extension.build("Contoso", "Homegrown")  # not in the catalogue: needs a version
