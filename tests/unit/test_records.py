"""Table keys and the record <-> entity conversion."""
from __future__ import annotations

from hypothesis import given, strategies as st

from arc_sweeper.records import MachineRecord, RunRecord, from_entity, machine_key, to_entity

FORBIDDEN = set("/\\#?") | {chr(c) for c in range(0x20)} | {chr(0x7F)}


def test_machine_key_is_readable_and_case_insensitive():
    a = machine_key("/subscriptions/S/resourceGroups/RG-One/providers/Microsoft.HybridCompute/machines/Web01")
    b = machine_key("/subscriptions/s/resourcegroups/rg-one/providers/microsoft.hybridcompute/machines/web01")
    assert a == b == "rg-one|web01"


def test_odd_ids_get_a_hashed_key():
    key = machine_key("/not/a/machine?#")
    assert key.startswith("id-") and len(key) == 3 + 64


@given(st.text(min_size=1, max_size=90), st.text(min_size=1, max_size=54))
def test_keys_never_contain_forbidden_characters(group, name):
    group, name = group.replace("/", "x"), name.replace("/", "x")
    key = machine_key(f"/subscriptions/s/resourceGroups/{group}/providers/Microsoft.HybridCompute/machines/{name}")
    assert not set(key) & FORBIDDEN
    assert len(key.encode()) <= 1024


def test_round_trip_through_entity():
    record = MachineRecord(run_id="r", resource_id="/subscriptions/s/resourceGroups/g/providers/Microsoft.HybridCompute/machines/m",
                           subscription_id="s", resource_group="g", name="m", findings=("auto_upgrade_off", "out_of_support"),
                           arm_http_status=409, recovered=True)
    entity = to_entity(record, record.partition_key, record.row_key)
    assert entity["findings"] == '["auto_upgrade_off", "out_of_support"]'
    assert from_entity(MachineRecord, entity) == record
    run = RunRecord("r", "timer", False, ("a", "b"), "running", "starting", "t", finding_counts={"compliant": 3})
    assert from_entity(RunRecord, to_entity(run, "run", "r")) == run


def test_long_text_is_clipped():
    record = MachineRecord(run_id="r", resource_id="x", subscription_id="s", resource_group="g", name="m",
                           arm_error_message="e" * 10_000)
    assert len(to_entity(record, "p", "k")["arm_error_message"]) == 2000
