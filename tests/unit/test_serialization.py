"""Table keys, and the one serializer for messages and table rows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arc_sweeper.messages import DiscoveryResult, StartRun, SubscriptionWork, SweepRequest
from arc_sweeper.records import MachineRecord, RunRecord
from arc_sweeper.resource_ids import machine_key
from arc_sweeper.serialization import from_entity, from_json, to_entity, to_json
from arc_sweeper.vocabulary import Action, EnableResult, Finding, Outcome, RunPhase, RunStatus, Trigger

SUB = "0000000a-0000-4000-8000-000000000001"
MACHINE = f"/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.HybridCompute/machines/m"
FORBIDDEN = set("/\\#?") | {chr(c) for c in range(0x20)} | {chr(0x7F)}


def test_machine_key_is_readable_and_case_insensitive():
    a = machine_key(
        f"/subscriptions/{SUB.upper()}/resourceGroups/RG-One/providers/Microsoft.HybridCompute/machines/Web01"
    )
    b = machine_key(f"/subscriptions/{SUB}/resourcegroups/rg-one/providers/microsoft.hybridcompute/machines/web01")
    assert a == b == "rg-one|web01"


@pytest.mark.parametrize("odd", ["/not/a/machine?#", MACHINE + "/", MACHINE.replace("/m", "/.."), MACHINE + " "])
def test_odd_ids_get_a_hashed_key(odd):
    key = machine_key(odd)
    assert key.startswith("id-") and len(key) == 3 + 64


RESOURCE_GROUP = st.text(
    st.characters(categories=("Lu", "Ll", "Lo", "Nd")) | st.sampled_from("_()-."), min_size=1, max_size=90
).filter(lambda g: not g.endswith("."))
MACHINE_NAME = st.from_regex(r"[a-zA-Z0-9_.-]{1,54}", fullmatch=True).filter(lambda n: n.strip("."))


@given(RESOURCE_GROUP, MACHINE_NAME)
def test_keys_of_legal_ids_are_readable_short_and_never_contain_forbidden_characters(group, name):
    key = machine_key(f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.HybridCompute/machines/{name}")
    assert not key.startswith("id-")
    assert not set(key) & FORBIDDEN
    assert len(key) <= 145 + 2 * 3  # | plus at most a few escapes; Azure allows 512 UTF-16 units


def test_a_machine_row_round_trips_through_an_entity():
    record = MachineRecord(
        run_id="r",
        resource_id=MACHINE,
        subscription_id=SUB,
        resource_group="g",
        name="m",
        findings=(Finding.AUTO_UPGRADE_OFF, Finding.OUT_OF_SUPPORT),
        action=Action.ENABLE_AUTO_UPGRADE,
        action_result=EnableResult.ENABLED,
        outcome=Outcome.PENDING,
        arm_http_status=409,
        recovered=True,
    )
    entity = to_entity(record, record.partition_key, record.row_key)
    assert entity["findings"] == '["auto_upgrade_off", "out_of_support"]'
    assert entity["action_result"] == "enabled" and "outcome" in entity
    back = from_entity(MachineRecord, entity)
    assert back == record and isinstance(back.findings[0], Finding) and isinstance(back.outcome, Outcome)
    run = RunRecord(
        "r", Trigger.TIMER, False, 2, RunStatus.RUNNING, RunPhase.STARTING, "t", finding_counts={"compliant": 3}
    )
    assert from_entity(RunRecord, to_entity(run, "run", "r")) == run


def test_no_outcome_is_no_column_and_reads_back_as_none():
    record = MachineRecord(run_id="r", resource_id=MACHINE, subscription_id=SUB, resource_group="g", name="m")
    entity = to_entity(record, "p", "k")
    assert "outcome" not in {k for k, v in entity.items() if v is not None}
    assert from_entity(MachineRecord, entity).outcome is None


def test_a_value_this_version_does_not_know_is_kept_as_text():
    entity = to_entity(
        MachineRecord(run_id="r", resource_id=MACHINE, subscription_id=SUB, resource_group="g", name="m"), "p", "k"
    )
    entity["outcome"] = "rolled_back_by_a_newer_version"
    assert from_entity(MachineRecord, entity).outcome == "rolled_back_by_a_newer_version"


def test_long_text_is_clipped_when_asked():
    record = MachineRecord(
        run_id="r",
        resource_id=MACHINE,
        subscription_id=SUB,
        resource_group="g",
        name="m",
        arm_error_message="e" * 10_000,
    )
    assert len(to_entity(record, "p", "k", clip_text=2000)["arm_error_message"]) == 2000
    assert len(to_entity(record, "p", "k")["arm_error_message"]) == 10_000


def test_messages_round_trip_with_nested_messages_and_enums():
    start = StartRun(SweepRequest("http-1", Trigger.HTTP, (SUB,), dry_run=True), "2026-11-30T00:00:00Z")
    data = to_json(start)
    assert data["request"]["trigger"] == "http" and data["request"]["subscriptions"] == [SUB]
    assert StartRun.from_json(data) == start and isinstance(StartRun.from_json(data).request, SweepRequest)
    result = DiscoveryResult("r", 0, 5, (SubscriptionWork(SUB, 5, 1),))
    assert from_json(DiscoveryResult, to_json(result)) == result


def test_a_message_that_is_not_an_object_is_refused():
    with pytest.raises(TypeError, match="StartRun expects a JSON object"):
        StartRun.from_json(["not", "an", "object"])
