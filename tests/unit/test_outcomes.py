"""Follow-up outcomes: each rule, in the order the product applies them, as the step records them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from arc_sweeper.catalogue import ReleaseCatalogue
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.outcomes import STUCK_ADVICE, FollowUpRules
from arc_sweeper.records import MachineRecord
from arc_sweeper.steps.follow_up import checked_row
from arc_sweeper.timefmt import iso
from arc_sweeper.vocabulary import SETTLED_OUTCOMES, Outcome

MACHINE_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg"
    "/providers/Microsoft.HybridCompute/machines/m1"
)
ENABLED_AT = "2026-11-20T03:00:00Z"
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
CATALOGUE = ReleaseCatalogue.load()
LATEST = (1, 67)


def row(**changes) -> MachineRecord:
    base = MachineRecord(
        run_id="daily-2026-11-20",
        resource_id=MACHINE_ID,
        subscription_id="00000000-0000-0000-0000-000000000001",
        resource_group="rg",
        name="m1",
        agent_version_seen="1.58.03224.693",
        enabled_at=ENABLED_AT,
        outcome=Outcome.PENDING,
    )
    return MachineRecord(**{**base.__dict__, **changes})


def machine(**changes) -> MachineSnapshot:
    base = dict(
        id=MACHINE_ID,
        name="m1",
        subscription_id="00000000-0000-0000-0000-000000000001",
        resource_group="rg",
        status="Connected",
        agent_version="1.58.03224.693",
        auto_upgrade=True,
    )
    return MachineSnapshot(**{**base, **changes})


def outcome(r: MachineRecord, m: MachineSnapshot | None) -> MachineRecord:
    """The row as the follow-up step records it (arc_sweeper.outcomes decides, the step applies)."""
    return checked_row(r, m, FollowUpRules(CATALOGUE, LATEST, timedelta(days=3)), iso(NOW))


def test_gone_when_resource_graph_no_longer_has_it():
    assert outcome(row(), None).outcome == Outcome.GONE


@pytest.mark.parametrize("version", ["1.67.03504.1320", "1.66.03480.100", "1.70"])
def test_upgraded_when_within_one_release_of_latest(version):
    result = outcome(row(), machine(agent_version=version))
    assert result.outcome == Outcome.UPGRADED
    assert result.agent_version_now == version
    assert "1.58.03224.693 ->" in result.outcome_detail


def test_two_releases_behind_without_an_attempt_is_pending():
    same = "1.65.03440.100"
    assert outcome(row(agent_version_seen=same), machine(agent_version=same)).outcome == Outcome.PENDING


def test_already_current_without_an_attempt_is_up_to_date_never_upgraded():
    current = "1.67.03504.1320"
    result = outcome(row(agent_version_seen=current), machine(agent_version=current))
    assert result.outcome == Outcome.UP_TO_DATE and "no attempt" in result.outcome_detail
    assert Outcome.UP_TO_DATE not in SETTLED_OUTCOMES  # it may still attempt, and fail, within the window


@pytest.mark.parametrize("version", ["1.66.03480.100", "1.67.03504.1320"])
def test_a_failed_attempt_after_enabling_is_failing_whatever_the_version(version):
    m = machine(
        agent_version=version,
        last_attempt_status="Failed",
        last_attempt_timestamp="2026-11-25T01:30:00Z",
        last_attempt_message="AZCM0166: install failed",
    )
    result = outcome(row(agent_version_seen=version), m)
    assert (result.outcome, result.outcome_detail) == (Outcome.UPGRADE_FAILED, "AZCM0166: install failed")


def test_one_release_behind_failing_for_longer_than_the_threshold_is_stuck():
    behind = "1.66.03480.100"
    m = machine(agent_version=behind, last_attempt_status="Failed", last_attempt_timestamp="2026-11-26T01:30:00Z")
    result = outcome(row(agent_version_seen=behind, failed_since="2026-11-21T01:30:00Z"), m)
    assert result.outcome == Outcome.STUCK


def test_success_after_enabling_counts_even_before_the_version_shows():
    m = machine(last_attempt_status="Success", last_attempt_timestamp="2026-11-23T01:30:00Z")
    assert outcome(row(), m).outcome == Outcome.UPGRADED


def test_an_attempt_from_before_enabling_is_ignored():
    m = machine(last_attempt_status="Failed", last_attempt_timestamp="2026-10-01T01:30:00Z")
    assert outcome(row(), m).outcome == Outcome.PENDING


def test_recent_failure_is_upgrade_failed_with_message_and_since():
    m = machine(
        last_attempt_status="Failed",
        last_attempt_timestamp="2026-11-25T01:30:00.1234567Z",
        last_attempt_message="AZCM0165: download failed",
    )
    result = outcome(row(), m)
    assert (result.outcome, result.failed_since) == (Outcome.UPGRADE_FAILED, "2026-11-25T01:30:00.1234567Z")
    assert result.outcome_detail == "AZCM0165: download failed"
    assert result.last_attempt_message == "AZCM0165: download failed"


def test_failure_older_than_threshold_is_stuck_with_advice():
    m = machine(last_attempt_status="Failed", last_attempt_timestamp="2026-11-25T01:30:00Z")
    result = outcome(row(failed_since="2026-11-22T01:30:00Z"), m)
    assert result.outcome == Outcome.STUCK
    assert result.outcome_detail == STUCK_ADVICE
    assert "himds" in STUCK_ADVICE


def test_recovered_after_failure():
    m = machine(
        agent_version="1.67.03504.1320", last_attempt_status="Success", last_attempt_timestamp="2026-11-26T01:30:00Z"
    )
    result = outcome(row(failed_since="2026-11-22T01:30:00Z"), m)
    assert (result.outcome, result.recovered) == (Outcome.UPGRADED, True)


def test_disconnected_records_since_when():
    m = machine(status="Disconnected", last_status_change="2026-11-24T08:00:00Z")
    result = outcome(row(), m)
    assert (result.outcome, result.disconnected_since) == (Outcome.DISCONNECTED, "2026-11-24T08:00:00Z")


def test_unknown_attempt_status_is_recorded_not_crashed():
    m = machine(last_attempt_status="InProgress", last_attempt_timestamp="2026-11-25T01:30:00Z")
    result = outcome(row(), m)
    assert result.outcome == Outcome.PENDING
    assert "InProgress" in result.outcome_detail


def test_garbage_timestamps_and_versions_do_not_crash():
    m = machine(agent_version="garbage", last_attempt_status="Failed", last_attempt_timestamp="yesterday")
    result = outcome(row(enabled_at="not a time"), m)
    assert result.outcome == Outcome.UPGRADE_FAILED
