"""The findings matrix: every finding and action, alone and combined, and properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arc_sweeper.catalogue import ReleaseCatalogue
from arc_sweeper.findings import Classification, ClassificationPolicy, classify
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.resource_ids import parse_machine_id
from arc_sweeper.versions import parse_agent_version
from arc_sweeper.vocabulary import Action, Finding

F = Finding
EXCLUDE = {"arc-sweeper": "exclude"}
# In August 2026 with a 12-month window, 1.55 (Aug 2025) is the oldest supported release.
POLICY = ClassificationPolicy(
    sweep_date=date(2026, 8, 15),
    catalogue=ReleaseCatalogue.load(),
    exclusion_tag=("arc-sweeper", "exclude"),
)
SUB = "0000000a-0000-4000-8000-000000000001"
CURRENT = "1.67.03504.1320"
SUPPORTED_BUT_TOO_OLD = "1.56.03167.593"  # supported, but below the 1.57 minimum
OLD = "1.40.02664.1629"  # out of support and below the minimum


def machine(
    status: str = "Connected",
    agent_version: str = CURRENT,
    auto_upgrade: bool | None = True,
    tags: dict[str, str] | None = None,
) -> MachineSnapshot:
    return MachineSnapshot(
        id=f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m1",
        name="m1",
        subscription_id=SUB,
        resource_group="rg",
        status=status,
        agent_version=agent_version,
        auto_upgrade=auto_upgrade,
        tags=tags or {},
    )


MATRIX = [
    # status, version, auto_upgrade, tags -> findings, action
    ("Connected", CURRENT, True, None, (F.COMPLIANT,), Action.NONE),
    ("Connected", "1.57.03197.640", True, None, (F.COMPLIANT,), Action.NONE),
    ("Connected", "1.55", True, None, (F.TOO_OLD_FOR_AUTO_UPGRADE,), Action.MANUAL_UPGRADE),  # still supported
    # Automatic upgrade off or missing.
    ("Connected", CURRENT, False, None, (F.AUTO_UPGRADE_OFF,), Action.ENABLE_AUTO_UPGRADE),
    ("Connected", CURRENT, None, None, (F.AUTO_UPGRADE_OFF,), Action.ENABLE_AUTO_UPGRADE),
    ("Connected", "1.57", False, None, (F.AUTO_UPGRADE_OFF,), Action.ENABLE_AUTO_UPGRADE),
    ("Connected", "1.68.04000.1", None, None, (F.AUTO_UPGRADE_OFF,), Action.ENABLE_AUTO_UPGRADE),
    # Too old to upgrade itself: manual, whatever the flag and the connection.
    (
        "Connected",
        SUPPORTED_BUT_TOO_OLD,
        False,
        None,
        (F.AUTO_UPGRADE_OFF, F.TOO_OLD_FOR_AUTO_UPGRADE),
        Action.MANUAL_UPGRADE,
    ),
    ("Connected", SUPPORTED_BUT_TOO_OLD, True, None, (F.TOO_OLD_FOR_AUTO_UPGRADE,), Action.MANUAL_UPGRADE),
    (
        "Connected",
        OLD,
        None,
        None,
        (F.AUTO_UPGRADE_OFF, F.TOO_OLD_FOR_AUTO_UPGRADE, F.OUT_OF_SUPPORT),
        Action.MANUAL_UPGRADE,
    ),
    (
        "Disconnected",
        OLD,
        False,
        None,
        (F.AUTO_UPGRADE_OFF, F.TOO_OLD_FOR_AUTO_UPGRADE, F.OUT_OF_SUPPORT, F.NOT_CONNECTED),
        Action.MANUAL_UPGRADE,
    ),
    ("Expired", OLD, True, None, (F.TOO_OLD_FOR_AUTO_UPGRADE, F.OUT_OF_SUPPORT, F.EXPIRED), Action.MANUAL_UPGRADE),
    # Not connected: nothing to enable until it reconnects.
    ("Disconnected", CURRENT, True, None, (F.NOT_CONNECTED,), Action.NONE),
    ("Disconnected", CURRENT, False, None, (F.AUTO_UPGRADE_OFF, F.NOT_CONNECTED), Action.NONE),
    ("Error", CURRENT, False, None, (F.AUTO_UPGRADE_OFF, F.NOT_CONNECTED), Action.NONE),
    ("AwaitingConnection", CURRENT, None, None, (F.AUTO_UPGRADE_OFF, F.NOT_CONNECTED), Action.NONE),
    ("", CURRENT, True, None, (F.NOT_CONNECTED,), Action.NONE),
    ("Connecting", CURRENT, False, None, (F.AUTO_UPGRADE_OFF, F.NOT_CONNECTED), Action.NONE),
    ("Expired", CURRENT, False, None, (F.AUTO_UPGRADE_OFF, F.EXPIRED), Action.NONE),
    ("Expired", CURRENT, True, None, (F.EXPIRED,), Action.NONE),
    # Status compares case-insensitively.
    ("connected", CURRENT, False, None, (F.AUTO_UPGRADE_OFF,), Action.ENABLE_AUTO_UPGRADE),
    (" CONNECTED ", CURRENT, False, None, (F.AUTO_UPGRADE_OFF,), Action.ENABLE_AUTO_UPGRADE),
    ("EXPIRED", CURRENT, True, None, (F.EXPIRED,), Action.NONE),
    # Unknown version: neither too old nor out of support can be said, nothing to do.
    ("Connected", "", False, None, (F.AUTO_UPGRADE_OFF, F.UNKNOWN_VERSION), Action.NONE),
    ("Connected", "garbage", True, None, (F.UNKNOWN_VERSION,), Action.NONE),
    ("Disconnected", "1", None, None, (F.AUTO_UPGRADE_OFF, F.NOT_CONNECTED, F.UNKNOWN_VERSION), Action.NONE),
    # Excluded: reported with everything else that applies, never acted on.
    ("Connected", CURRENT, True, EXCLUDE, (F.EXCLUDED,), Action.NONE),
    ("Connected", CURRENT, False, EXCLUDE, (F.AUTO_UPGRADE_OFF, F.EXCLUDED), Action.NONE),
    (
        "Connected",
        OLD,
        False,
        EXCLUDE,
        (F.AUTO_UPGRADE_OFF, F.TOO_OLD_FOR_AUTO_UPGRADE, F.OUT_OF_SUPPORT, F.EXCLUDED),
        Action.NONE,
    ),
    ("Expired", "n/a", None, EXCLUDE, (F.AUTO_UPGRADE_OFF, F.EXPIRED, F.EXCLUDED, F.UNKNOWN_VERSION), Action.NONE),
    ("Connected", CURRENT, False, {"ARC-Sweeper": "exclude"}, (F.AUTO_UPGRADE_OFF, F.EXCLUDED), Action.NONE),
    # Tag values compare exactly; other tags do not matter.
    # An exclusion is a safety switch: value matched case-insensitively, surrounding spaces ignored.
    ("Connected", CURRENT, False, {"arc-sweeper": "Exclude"}, (F.AUTO_UPGRADE_OFF, F.EXCLUDED), Action.NONE),
    ("Connected", CURRENT, False, {" Arc-Sweeper ": " exclude "}, (F.AUTO_UPGRADE_OFF, F.EXCLUDED), Action.NONE),
    ("Connected", CURRENT, False, {"arc-sweeper": "excluded"}, (F.AUTO_UPGRADE_OFF,), Action.ENABLE_AUTO_UPGRADE),
    ("Connected", CURRENT, False, {"arc-sweeper": "no"}, (F.AUTO_UPGRADE_OFF,), Action.ENABLE_AUTO_UPGRADE),
    ("Connected", CURRENT, False, {"env": "prod"}, (F.AUTO_UPGRADE_OFF,), Action.ENABLE_AUTO_UPGRADE),
]


@pytest.mark.parametrize(("status", "agent_version", "auto_upgrade", "tags", "findings", "action"), MATRIX)
def test_findings_matrix(
    status: str,
    agent_version: str,
    auto_upgrade: bool | None,
    tags: dict[str, str] | None,
    findings: tuple[Finding, ...],
    action: Action,
) -> None:
    result = classify(machine(status, agent_version, auto_upgrade, tags), POLICY)
    assert result.findings == findings
    assert result.action == action
    assert result.version == parse_agent_version(agent_version)


def test_matrix_covers_every_finding_and_action() -> None:
    # UNRECOGNISED_ID has its own table above (it depends on the id, not on the columns of this matrix).
    assert {finding for row in MATRIX for finding in row[4]} == set(Finding) - {Finding.UNRECOGNISED_ID}
    assert {row[5] for row in MATRIX} == set(Action)


def test_out_of_support_alone_with_a_lower_minimum() -> None:
    policy = replace(POLICY, minimum_auto_upgrade_version=(1, 30))
    result = classify(machine(agent_version=OLD, auto_upgrade=False), policy)
    assert result.findings == (F.AUTO_UPGRADE_OFF, F.OUT_OF_SUPPORT)
    assert result.action == Action.ENABLE_AUTO_UPGRADE


def test_a_higher_minimum_turns_enable_into_manual() -> None:
    policy = replace(POLICY, minimum_auto_upgrade_version=(1, 68))
    result = classify(machine(auto_upgrade=False), policy)
    assert result.findings == (F.AUTO_UPGRADE_OFF, F.TOO_OLD_FOR_AUTO_UPGRADE)
    assert result.action == Action.MANUAL_UPGRADE


def test_the_support_window_comes_from_the_policy() -> None:
    older = classify(machine(agent_version="1.60"), replace(POLICY, support_window_months=3))
    assert older.findings == (F.OUT_OF_SUPPORT,)
    assert older.action == Action.NONE


def test_without_an_exclusion_tag_nothing_is_excluded() -> None:
    result = classify(machine(auto_upgrade=False, tags=EXCLUDE), replace(POLICY, exclusion_tag=None))
    assert result.findings == (F.AUTO_UPGRADE_OFF,)
    assert result.action == Action.ENABLE_AUTO_UPGRADE


def test_the_parsed_version_is_returned() -> None:
    assert classify(machine(agent_version="01.058.03224.0693"), POLICY).version == parse_agent_version("1.58.3224.693")


def test_explanations_cover_every_finding_and_action() -> None:
    assert all(member.explanation.strip() for member in [*Finding, *Action])
    assert "1.57" in Finding.TOO_OLD_FOR_AUTO_UPGRADE.explanation


@pytest.mark.parametrize(
    "odd_id",
    [
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m1",  # not a GUID
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m1?api-version=x",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m1#frag",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/..",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/.",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m1/",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m 1",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m1\n",
        f"/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.HybridCompute/machines/m1",
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/m1",
        f"/subscriptions/{SUB}/resourceGroups/{'r' * 91}/providers/Microsoft.HybridCompute/machines/m1",
    ],
)
def test_a_machine_whose_id_is_not_a_machine_id_is_never_enabled(odd_id: str) -> None:
    snapshot = replace(machine(auto_upgrade=False), id=odd_id)
    result = classify(snapshot, POLICY)
    assert Finding.UNRECOGNISED_ID in result.findings and result.action == Action.NONE


def test_odd_but_legal_ids_are_recognised() -> None:
    for group in ("é" * 90, "日本語のリソースグループ" * 4, "rg_(prod)-1.x"):
        snapshot = replace(
            machine(auto_upgrade=False),
            id=f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.HybridCompute/machines/m.1",
        )
        assert classify(snapshot, POLICY).action == Action.ENABLE_AUTO_UPGRADE, group


def test_enum_values_are_the_strings_stored_in_reports() -> None:
    assert Finding("too_old_for_auto_upgrade") is Finding.TOO_OLD_FOR_AUTO_UPGRADE
    assert Action.ENABLE_AUTO_UPGRADE == "enable_auto_upgrade"


# --- Properties -------------------------------------------------------------------------

statuses = st.sampled_from(["Connected", "connected", "Disconnected", "Error", "Expired", "AwaitingConnection", ""])
versions = st.sampled_from([CURRENT, SUPPORTED_BUT_TOO_OLD, OLD, "1.57", "1.68", "", "garbage"])
tag_names = st.sampled_from(["arc-sweeper", "ARC-SWEEPER", "env"]) | st.text(max_size=10)
tag_values = st.sampled_from(["exclude", "Exclude", ""]) | st.text(max_size=10)

machine_ids = st.sampled_from([machine().id, machine().id.upper(), machine().id + "/"]) | st.text()
snapshots = st.builds(
    MachineSnapshot,
    id=machine_ids,
    name=st.text(),
    subscription_id=st.text(),
    resource_group=st.text(),
    location=st.text(),
    os_type=st.text(),
    status=statuses | st.text(),
    agent_version=versions | st.text(),
    auto_upgrade=st.none() | st.booleans(),
    last_attempt_status=st.text(),
    last_attempt_message=st.text(),
    last_attempt_timestamp=st.text(),
    last_status_change=st.text(),
    tags=st.dictionaries(tag_names, tag_values, max_size=4),
)


def is_excluded(snapshot: MachineSnapshot) -> bool:
    return any(
        name.strip().casefold() == "arc-sweeper" and value.strip().casefold() == "exclude"
        for name, value in snapshot.tags.items()
    )


@given(snapshots)
def test_classify_never_raises_and_findings_are_well_formed(snapshot: MachineSnapshot) -> None:
    result = classify(snapshot, POLICY)
    assert isinstance(result, Classification)
    assert result.findings, "never empty"
    assert list(result.findings) == [finding for finding in Finding if finding in result.findings]
    assert (Finding.COMPLIANT in result.findings) == (result.findings == (Finding.COMPLIANT,))
    assert not {Finding.NOT_CONNECTED, Finding.EXPIRED} <= set(result.findings)


@given(snapshots)
def test_enable_only_for_connected_new_enough_unexcluded_machines_with_auto_upgrade_off(
    snapshot: MachineSnapshot,
) -> None:
    result = classify(snapshot, POLICY)
    if result.action == Action.ENABLE_AUTO_UPGRADE:
        assert snapshot.status.strip().casefold() == "connected"
        assert result.version is not None and result.version.release >= POLICY.minimum_auto_upgrade_version
        assert snapshot.auto_upgrade is not True
        assert not is_excluded(snapshot)
        assert parse_machine_id(snapshot.id) is not None


@given(snapshots)
def test_manual_only_for_known_versions_below_the_minimum_and_excluded_means_no_action(
    snapshot: MachineSnapshot,
) -> None:
    result = classify(snapshot, POLICY)
    if result.action == Action.MANUAL_UPGRADE:
        assert result.version is not None and result.version.release < POLICY.minimum_auto_upgrade_version
    if Finding.EXCLUDED in result.findings:
        assert is_excluded(snapshot)
        assert result.action == Action.NONE
    if Finding.UNKNOWN_VERSION in result.findings:
        assert result.version is None
        assert not {Finding.TOO_OLD_FOR_AUTO_UPGRADE, Finding.OUT_OF_SUPPORT} & set(result.findings)
