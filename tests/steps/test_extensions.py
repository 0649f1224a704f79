"""Machine extensions in the steps: classified with their machine, PATCHed only in enable mode and
only when safe, ranked against the whole estate, followed, reported and kept in the fleet view."""

from __future__ import annotations

from dataclasses import replace

import pytest
from azure.core.exceptions import HttpResponseError

from arc_sweeper.extensions import ExtensionSnapshot
from arc_sweeper.messages import CheckCohort, DiscoverBatch, EnableChunk, EvaluateRings, PhaseEnd
from arc_sweeper.reporting.summary import summary_lines
from arc_sweeper.throttling import BudgetExhausted
from arc_sweeper.vocabulary import EnableResult, ExtensionFinding, ExtensionOutcome, Target
from tests.steps.conftest import AS_OF, SUB_A, SUB_B, snapshot

RUN = "daily-2026-11-20"
LATER = "2026-11-22T09:00:00Z"
AMA = ("Microsoft.Azure.Monitor", "AzureMonitorWindowsAgent")
DEPENDENCY = ("Microsoft.Azure.Monitoring.DependencyAgent", "DependencyAgentWindows")
CUSTOM = ("Contoso.Tools", "InventoryAgent")  # not supported by automatic extension upgrade


def extension(
    sub: str,
    machine: str,
    name: str,
    kind: tuple[str, str] = AMA,
    *,
    version: str = "1.22.0",
    auto_upgrade: bool | None = False,
    **fields,
) -> ExtensionSnapshot:
    machine_id = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/{machine}"
    return ExtensionSnapshot(
        id=f"{machine_id}/extensions/{name}",
        name=name,
        subscription_id=sub,
        publisher=kind[0],
        extension_type=kind[1],
        version=version,
        auto_upgrade=auto_upgrade,
        provisioning_state=fields.pop("provisioning_state", "Succeeded"),
        **fields,
    )


def estate(world, mode: str = "enable", **env: str) -> None:
    """Four machines: one plain, one excluded, one disconnected, one with the agent already on automatic upgrade."""
    world.env.update(EXTENSION_UPGRADE_MODE=mode, **env)
    world.graph.machines = [
        snapshot(SUB_A, "plain"),
        snapshot(SUB_A, "excluded", tags={"Arc-Sweeper": " Exclude "}),
        snapshot(SUB_A, "offline", status="Disconnected"),
        snapshot(SUB_A, "current", auto_upgrade=True, version="1.67.03504.1320"),
    ]
    world.graph.extensions = [
        extension(SUB_A, "plain", "AMA"),
        extension(SUB_A, "plain", "Dependency", DEPENDENCY, auto_upgrade=None),
        extension(SUB_A, "plain", "Inventory", CUSTOM),
        extension(SUB_A, "excluded", "AMA"),
        extension(SUB_A, "offline", "AMA"),
        extension(SUB_A, "current", "AMA", version="1.24.0", auto_upgrade=True),
        extension(
            SUB_A,
            "current",
            "Dependency",
            DEPENDENCY,
            auto_upgrade=False,
            provisioning_state="Failed",
            status_level="Error",
            status_message="install failed: disk full",
        ),
    ]


def rows(world) -> dict[str, object]:
    return {f"{r.machine_name}/{r.name}": r for r in world.tables.extensions(RUN, SUB_A)}


def enable_everything(world, dry_run: bool = False) -> None:
    result = world.discovered(RUN)
    for work in result.work:
        for chunk in range(work.chunks):
            world.enabling.enable_chunk(EnableChunk(RUN, work.subscription_id, chunk, dry_run, AS_OF))
        for chunk in range(work.extension_chunks):
            world.enabling.enable_chunk(
                EnableChunk(RUN, work.subscription_id, chunk, dry_run, AS_OF, target=Target.EXTENSIONS)
            )


def test_findings_per_extension_joined_to_its_machine(world):
    estate(world, "report")
    world.discovered(RUN)
    found = {name: set(r.findings) for name, r in rows(world).items()}
    assert found["plain/AMA"] == {ExtensionFinding.AUTO_UPGRADE_OFF}
    assert found["plain/Dependency"] == {ExtensionFinding.OK}  # not set: opted in by default
    assert found["plain/Inventory"] == {ExtensionFinding.UNSUPPORTED}
    assert found["excluded/AMA"] == {ExtensionFinding.AUTO_UPGRADE_OFF, ExtensionFinding.EXCLUDED}
    assert found["offline/AMA"] == {ExtensionFinding.AUTO_UPGRADE_OFF, ExtensionFinding.MACHINE_NOT_CONNECTED}
    assert found["current/Dependency"] == {ExtensionFinding.AUTO_UPGRADE_OFF, ExtensionFinding.PROVISIONING_FAILED}
    assert rows(world)["current/Dependency"].status_message == "install failed: disk full"
    assert rows(world)["plain/AMA"].machine_id.endswith("/machines/plain")


def test_report_mode_sends_no_extension_patch(world):
    estate(world, "report")
    enable_everything(world)
    assert not any("/extensions/" in sent for sent in world.arm.sent)
    assert all(r.action_result == EnableResult.NOT_ATTEMPTED for r in rows(world).values())


def test_enable_mode_patches_only_supported_opted_out_extensions_of_machines_it_may_change(world):
    estate(world, "enable")
    result = world.discovered(RUN)
    assert [(w.machines_to_enable, w.extension_chunks) for w in result.work] == [(1, 1)]
    assert [s.extensions_to_enable for s in world.tables.subscriptions(RUN) if s.subscription_id == SUB_A] == [2]
    enable_everything(world)
    patched = sorted(
        sent.rsplit("/", 3)[-3] + "/" + sent.rsplit("/", 1)[-1] for sent in world.arm.sent if "/extensions/" in sent
    )
    # plain/AMA and current/Dependency: supported and opted out, on connected machines nobody excluded
    assert patched == ["current/Dependency", "plain/AMA"]
    assert rows(world)["plain/AMA"].action_result == EnableResult.ENABLED
    assert rows(world)["excluded/AMA"].action_result == EnableResult.NOT_ATTEMPTED


def test_a_denied_type_is_reported_never_patched(world):
    estate(world, "enable", EXTENSION_DENY_LIST="dependencyagentwindows, Contoso.Tools.InventoryAgent")
    enable_everything(world)
    assert [s for s in world.arm.sent if "/extensions/" in s] == [
        f"/subscriptions/{SUB_A}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/plain/extensions/AMA"
    ]
    assert ExtensionFinding.DENIED in rows(world)["current/Dependency"].findings


def test_dry_run_covers_extensions(world):
    estate(world, "enable")
    enable_everything(world, dry_run=True)
    assert world.arm.sent == []
    assert rows(world)["plain/AMA"].action_result == EnableResult.DRY_RUN


def test_an_extension_patch_is_sent_once_even_when_the_chunk_runs_again(world):
    estate(world, "enable")
    enable_everything(world)
    again = world.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF, target=Target.EXTENSIONS))
    assert again.counts == {"enabled": 2} and again.remaining == 0
    assert len([s for s in world.arm.sent if "/extensions/" in s]) == 2


def test_extensions_of_a_closed_ring_wait_with_their_machine(world):
    estate(world, "enable", RING_TAG="ring")
    world.graph.machines[0] = replace(world.graph.machines[0], tags={"ring": "1"})
    world.graph.machines[3] = replace(world.graph.machines[3], tags={"ring": "0"})
    world.started(RUN)
    rings = world.rings.evaluate(EvaluateRings(RUN, AS_OF))
    world.discovery.discover_batch(DiscoverBatch(RUN, 0, AS_OF, rings=rings))
    plain = rows(world)["plain/AMA"]
    assert (plain.action_result, plain.enable_chunk) == (EnableResult.DEFERRED, -1)
    assert "ring 1" in plain.defer_reason
    assert rows(world)["current/Dependency"].enable_chunk == 0


def test_a_refused_extension_query_costs_the_extensions_only_and_is_said(world):
    estate(world, "report")
    world.graph.fail_extensions = HttpResponseError(message="BadRequest: property not found")
    world.graph.fail_extensions.status_code = 400
    result = world.discovered(RUN)
    assert result.machines == 4 and result.extensions == 0
    assert result.extension_error.startswith("extensions not read: HttpResponseError")
    assert world.tables.machines(RUN, SUB_A)


def test_a_quota_the_machines_query_spent_costs_the_extensions_only(world):
    estate(world, "report")
    world.graph.fail_extensions = BudgetExhausted("Resource Graph quota: resets in 86400s, more than 120s")
    result = world.discovered(RUN)
    assert result.machines == 4 and "Resource Graph quota" in result.extension_error


def test_a_transient_extension_query_failure_retries_the_batch_before_anything_is_written(world):
    estate(world, "report")
    world.graph.fail_extensions = RuntimeError("connection reset")
    with pytest.raises(RuntimeError):
        world.discovered(RUN)
    assert world.tables.machine_rows == {} and world.tables.extension_rows == {}


def test_extensions_off_reads_none(world):
    estate(world, "off")
    world.discovered(RUN)
    assert world.tables.extension_rows == {} and world.graph.queries == 1


def test_versions_behind_are_ranked_against_every_batch_of_the_run(world):
    """Batch 0 alone cannot know that batch 1 runs newer versions: ranking waits for enabling's end."""
    world.env.update(EXTENSION_UPGRADE_MODE="report", RESOURCE_GRAPH_BATCH_SIZE="1")
    world.graph.machines = [snapshot(SUB_A, "old"), snapshot(SUB_B, "new")]
    world.graph.extensions = [
        extension(SUB_A, "old", "AMA", version="1.20.0", auto_upgrade=None),
        extension(SUB_B, "new", "AMA", version="1.22.0", auto_upgrade=None),
        extension(SUB_B, "new", "AMA2", version="1.21.1", auto_upgrade=None),
    ]
    world.started(RUN)
    for batch in (0, 1):
        world.discovery.discover_batch(DiscoverBatch(RUN, batch, AS_OF))
    world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))
    old = rows(world)["old/AMA"]
    assert old.versions_behind == 2 and ExtensionFinding.BEHIND in old.findings
    assert {r.name: r.versions_behind for r in world.tables.extensions(RUN, SUB_B)} == {"AMA": 0, "AMA2": 1}
    alert = world.alerts.payloads[-1]
    assert alert["schemaVersion"] == "1.2"
    assert alert["counts"]["extensions"]["seen"] == 3
    assert alert["counts"]["extensions"]["findings"]["ext_behind"] == 2
    far = [i for i in alert["attention"]["items"] if i["kind"] == "extension_far_behind"]
    assert [i["name"] for i in far] == ["old/AMA"] and "2 versions behind" in far[0]["message"]


def test_the_digest_lists_failed_and_opted_out_extensions_and_the_fleet_keeps_their_state(world):
    estate(world, "report")
    world.discovered(RUN)
    world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))
    items = {(i["kind"], i["name"]) for i in world.alerts.payloads[-1]["attention"]["items"]}
    assert ("extension_failed", "current/Dependency") in items
    assert ("extension_opted_out", "plain/AMA") in items
    assert not any(name.startswith("excluded/") for _, name in items)  # excluded machines: reported, not nagged
    assert "extensions" in world.alerts.payloads[-1]["summary"]
    fleet = {f.name: f for f in world.tables.fleet(SUB_A).values()}
    assert fleet["current"].extensions["Dependency"].startswith("1.22.0; extension_failed")
    assert fleet["current"].extensions_needing_attention == ("Dependency",)
    assert fleet["plain"].extensions.keys() == {"AMA", "Dependency", "Inventory"}
    run = world.tables.get_run(RUN)
    assert run.extensions_seen == 7 and run.extension_finding_counts["ext_unsupported"] == 1
    lines = summary_lines(run)
    assert "Extensions: 7 on the machines seen" in lines
    assert any(line.split() == ["ext_auto_upgrade_off", "4"] for line in lines)


def test_follow_up_records_upgraded_failing_and_gone_extensions(world):
    estate(world, "enable")
    enable_everything(world)
    assert world.closing.finish_enabling(PhaseEnd(RUN, AS_OF)) == 3  # the plain machine + two extensions
    followed = sorted(name for name, r in rows(world).items() if r.followed)
    assert followed == ["current/Dependency", "plain/AMA", "plain/Dependency", "plain/Inventory"]
    world.graph.extensions = [
        extension(SUB_A, "plain", "AMA", version="1.24.0", auto_upgrade=True),
        extension(SUB_A, "plain", "Inventory", CUSTOM),
        extension(
            SUB_A,
            "current",
            "Dependency",
            DEPENDENCY,
            auto_upgrade=True,
            status_level="Error",
            status_message="upgrade to 9.10.5 failed; rolled back",
        ),
    ]
    tally = world.follow_up.check_cohort(CheckCohort(RUN, 0, LATER)).tally
    after = rows(world)
    assert after["plain/AMA"].outcome == ExtensionOutcome.UPGRADED and after["plain/AMA"].version_now == "1.24.0"
    assert after["current/Dependency"].outcome == ExtensionOutcome.FAILING
    assert "rolled back" in after["current/Dependency"].outcome_detail
    assert after["plain/Dependency"].outcome == ExtensionOutcome.GONE
    assert after["plain/Inventory"].outcome == ExtensionOutcome.CURRENT  # the newest InventoryAgent there is
    assert tally.extension_counts == {"ext_upgraded": 1, "ext_failing": 1, "ext_gone": 1, "ext_current": 1}
    assert not any(name.startswith("ext_") for name in tally.counts)
    fleet = {f.name: f for f in world.tables.fleet(SUB_A).values()}
    assert fleet["plain"].extensions["AMA"] == "1.24.0"
    assert fleet["current"].extensions_needing_attention == ("Dependency",)
    world.closing.finish_run(PhaseEnd(RUN, LATER))
    assert world.tables.get_run(RUN).extension_outcome_counts["ext_upgraded"] == 1


def test_a_settled_extension_is_not_read_again(world):
    estate(world, "enable")
    world.graph.machines = world.graph.machines[:1]
    world.graph.extensions = [extension(SUB_A, "plain", "AMA")]
    enable_everything(world)
    world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))
    world.graph.machines = [replace(world.graph.machines[0], agent_version="1.67.03504.1320")]
    world.graph.extensions = [extension(SUB_A, "plain", "AMA", version="1.24.0", auto_upgrade=True)]
    assert world.follow_up.check_cohort(CheckCohort(RUN, 0, LATER)).tally.unsettled == 0
    queries = world.graph.queries
    world.follow_up.check_cohort(CheckCohort(RUN, 0, LATER))
    assert world.graph.queries == queries


def test_a_failed_upgrade_stays_failing_after_its_rollback_until_a_newer_version_shows(world):
    estate(world, "enable")
    world.graph.machines = world.graph.machines[:1]
    world.graph.extensions = [extension(SUB_A, "plain", "AMA")]
    enable_everything(world)
    world.closing.finish_enabling(PhaseEnd(RUN, AS_OF))
    failed = "upgrade to 1.24.0 failed; rolled back"
    world.graph.extensions = [
        extension(SUB_A, "plain", "AMA", auto_upgrade=True, status_level="Error", status_message=failed)
    ]
    world.follow_up.check_cohort(CheckCohort(RUN, 0, LATER))
    # Rolled back and healthy between two attempts: the same version, still the newest the estate runs.
    world.graph.extensions = [extension(SUB_A, "plain", "AMA", auto_upgrade=True)]
    world.follow_up.check_cohort(CheckCohort(RUN, 0, "2026-11-23T09:00:00Z"))
    row = rows(world)["plain/AMA"]
    assert (row.outcome, row.outcome_detail) == (ExtensionOutcome.FAILING, failed)
    world.graph.extensions = [extension(SUB_A, "plain", "AMA", version="1.24.0", auto_upgrade=True)]
    world.follow_up.check_cohort(CheckCohort(RUN, 0, "2026-11-24T09:00:00Z"))
    assert rows(world)["plain/AMA"].outcome == ExtensionOutcome.UPGRADED
