"""Recorded tables for report tests: one run of nine machines (and their extensions) with every kind of trouble,
and its neighbours."""

from __future__ import annotations

from dataclasses import replace

from arc_sweeper.records import ExtensionRecord, FleetRecord, MachineRecord, RunRecord, SubscriptionRecord
from arc_sweeper.steps.closing import RunTally, with_counts
from arc_sweeper.vocabulary import (
    Action,
    EnableResult,
    ExtensionFinding,
    ExtensionOutcome,
    Finding,
    Outcome,
    RunPhase,
    RunStatus,
    Trigger,
)
from tests.fakes import InMemoryTables

SUB_A = "aaaaaaaa-0000-4000-8000-000000000001"
SUB_B = "bbbbbbbb-0000-4000-8000-000000000002"
DAY_1, DAY_2 = "daily-2026-11-20", "daily-2026-11-21"
F = Finding


def machine(
    name: str, version: str, findings: tuple[Finding, ...], action: Action = Action.NONE, **fields
) -> MachineRecord:
    return MachineRecord(
        DAY_1,
        f"/subscriptions/{SUB_A}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{name}",
        SUB_A,
        "rg",
        name,
        agent_version_seen=version,
        findings=findings,
        action=action,
        **fields,
    )


def enabled(name: str, version: str, outcome: Outcome, **fields) -> MachineRecord:
    return machine(
        name,
        version,
        (F.AUTO_UPGRADE_OFF,),
        Action.ENABLE_AUTO_UPGRADE,
        action_result=EnableResult.ENABLED,
        enabled_at="2026-11-20T03:31:00Z",
        outcome=outcome,
        **fields,
    )


ROWS = [
    machine("ok", "1.67.03504.1320", (F.COMPLIANT,)),
    enabled("upgrades", "1.60.03293.809", Outcome.UPGRADED),
    enabled(
        "stuck",
        "1.61.03310848",
        Outcome.STUCK,
        last_attempt_status="Failed",
        failed_since="2026-11-20T01:10:00Z",
        last_attempt_message="AZCM0165: Failed to download the agent package",
    ),
    enabled("waits", "1.62.03390.900", Outcome.PENDING),
    machine(
        "locked",
        "1.63.03420.950",
        (F.AUTO_UPGRADE_OFF,),
        Action.ENABLE_AUTO_UPGRADE,
        action_result=EnableResult.FAILED,
        arm_http_status=409,
        arm_error_code="ScopeLocked",
        arm_error_message="The scope is locked",
        updated_at="2026-11-20T03:31:00Z",
    ),
    machine(
        "old",
        "1.50.03025.500",
        (F.AUTO_UPGRADE_OFF, F.TOO_OLD_FOR_AUTO_UPGRADE, F.OUT_OF_SUPPORT),
        Action.MANUAL_UPGRADE,
    ),
    machine(
        "old-too",
        "1.50.03025.501",
        (F.AUTO_UPGRADE_OFF, F.TOO_OLD_FOR_AUTO_UPGRADE, F.OUT_OF_SUPPORT),
        Action.MANUAL_UPGRADE,
    ),
    machine("aged", "1.56.03167.593", (F.OUT_OF_SUPPORT,)),
    machine("odd", "garbage", (F.AUTO_UPGRADE_OFF, F.UNKNOWN_VERSION)),
]
E = ExtensionFinding
AMA = ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent")
INSTALL_FAILED = "Extension installation failed: the handler exited with code 1 while enabling the extension."
ROLLED_BACK = "Extension upgrade failed: the install command exited with code 1603; the previous version was restored."


def extension(
    machine_name: str, name: str, kind: tuple[str, str], version: str, findings: tuple[ExtensionFinding, ...], **fields
) -> ExtensionRecord:
    machine_id = machine(machine_name, "", ()).resource_id
    return ExtensionRecord(
        DAY_1,
        f"{machine_id}/extensions/{name}",
        machine_id,
        SUB_A,
        machine_name,
        name,
        kind[0],
        kind[1],
        version,
        findings=findings,
        **fields,
    )


def enabled_extension(
    machine_name: str, name: str, kind: tuple[str, str], version: str, outcome: ExtensionOutcome, detail: str, **fields
) -> ExtensionRecord:
    return extension(
        machine_name,
        name,
        kind,
        version,
        (E.AUTO_UPGRADE_OFF,),
        action=Action.ENABLE_AUTO_UPGRADE,
        action_result=EnableResult.ENABLED,
        enabled_at="2026-11-20T03:31:00Z",
        followed=True,
        outcome=outcome,
        outcome_detail=detail,
        **fields,
    )


EXTENSIONS = [
    enabled_extension(
        "upgrades", "AMA", AMA, "1.30.0.0", ExtensionOutcome.UPGRADED, "1.30.0.0 -> 1.34.0.0", version_now="1.34.0.0"
    ),
    enabled_extension(
        "stuck",
        "UpdateManager",
        ("Microsoft.CPlat.Core", "WindowsOsUpdateExtension"),
        "1.0.21.0",
        ExtensionOutcome.FAILING,
        ROLLED_BACK,
        version_now="1.0.21.0",
    ),
    extension(
        "waits",
        "Worker",
        ("Microsoft.Azure.Automation.HybridWorker", "HybridWorkerForWindows"),
        "1.1.13",
        (E.AUTO_UPGRADE_OFF,),
        action=Action.ENABLE_AUTO_UPGRADE,
        action_result=EnableResult.FAILED,
        arm_http_status=409,
        arm_error_code="ScopeLocked",
        arm_error_message="The scope is locked",
        updated_at="2026-11-20T03:31:00Z",
    ),
    extension(
        "ok",
        "Dependency",
        ("Microsoft.Azure.Monitoring.DependencyAgent", "DependencyAgentWindows"),
        "9.10.20.31260",
        (E.PROVISIONING_FAILED,),
        provisioning_state="Failed",
        status_level="Error",
        status_message=INSTALL_FAILED,
    ),
    extension(
        "ok", "MDE.Windows", ("Microsoft.Azure.AzureDefenderForServers", "MDE.Windows"), "1.0.11.4", (E.UNSUPPORTED,)
    ),
    extension(
        "aged",
        "IaaSAntimalware",
        ("Microsoft.Azure.Security", "IaaSAntimalware"),
        "1.7.0.0",
        (E.AUTO_UPGRADE_OFF, E.DENIED),
        auto_upgrade_before="false",
    ),
    extension("old", "AMA", AMA, "1.28.0.0", (E.BEHIND,), versions_behind=3),
    extension("aged", "AMA", AMA, "1.34.0.0", (E.OK,)),
]
SUBSCRIPTIONS = [
    SubscriptionRecord(DAY_1, SUB_A, "App", "Enabled", machines=len(ROWS)),
    SubscriptionRecord(DAY_1, SUB_B, "Data", "Disabled", in_scope=False, skip_reason="subscription state is Disabled"),
]
HISTORY = {
    "2026-11-20": {"0": {"pending": 3}},
    "2026-11-21": {"0": {"pending": 1, "upgraded": 1, "upgrade_failed": 1}},
    "2026-11-22": {"0": {"pending": 1, "upgraded": 1, "stuck": 1}},
}


def run(run_id: str = DAY_1, status: RunStatus = RunStatus.COMPLETED, **fields) -> RunRecord:
    started = f"{run_id[6:]}T03:30:00Z" if run_id.startswith("daily-") else "2026-11-21T10:00:00Z"
    return RunRecord(run_id, Trigger.TIMER, False, 0, status, RunPhase.DONE, started, **fields)


def tally_of(machines: list[MachineRecord], extensions: list[ExtensionRecord]) -> RunTally:
    tally = RunTally()
    tally.add(machines, extensions)
    return tally


def recorded_tables() -> InMemoryTables:
    """Day 1's completed run with its machines, subscriptions and fleet rows; day 2 following; two runs not
    comparable."""
    t = InMemoryTables()
    first = with_counts(
        run(
            enabling_ended_at="2026-11-20T03:31:00Z",
            ended_at="2026-11-27T03:31:00Z",
            cohort_size=5,
            outcome_history=HISTORY,
        ),
        SUBSCRIPTIONS,
        tally_of(ROWS, EXTENSIONS),
    )
    t.put_run(first)
    t.put_run(
        run(
            DAY_2,
            status=RunStatus.FOLLOWING,
            machines_seen=10,
            finding_counts={"compliant": 4},
            result_counts={"enabled": 1},
            outcome_history={"2026-11-21": {"0": {"pending": 1}}},
        )
    )
    t.put_run(run("daily-2026-11-22", status=RunStatus.FAILED, machines_seen=10))  # failed: not a trend point
    t.put_run(
        replace(run("http-20261121T100000Z-a1b2c3d4", machines_seen=2), scope_count=1, scope_digest="5d41402abc4b2a76")
    )  # another scope
    t.put_subscriptions(SUBSCRIPTIONS)
    t.put_machines(ROWS)
    t.put_extensions(EXTENSIONS)
    t.put_fleet([FleetRecord(r.resource_id, SUB_A, r.name, first_seen_at="2026-11-20T03:30:30Z") for r in ROWS])
    t.put_fleet(
        [
            FleetRecord(
                f"/subscriptions/{SUB_A}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/new",
                SUB_A,
                "new",
                first_seen_at="2026-11-21T03:30:30Z",
            )
        ]
    )
    return t
