"""Follow-up: re-read the cohort, record outcomes, tell the fleet; a failed poll loses nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from arc_sweeper.messages import CheckCohort, EnableChunk
from arc_sweeper.vocabulary import Outcome
from tests.steps.conftest import AS_OF, CURRENT, SUB_A, snapshot

RUN = "daily-2026-11-20"
LATER = "2026-11-22T09:00:00Z"


def enabled(world, *names: str):
    world.graph.machines = [snapshot(SUB_A, name) for name in names]
    world.discovered(RUN)
    world.enabling.enable_chunk(EnableChunk(RUN, SUB_A, 0, False, AS_OF))


def test_outcomes_are_recorded_and_counted(world):
    enabled(world, "upgrades", "fails", "gone")
    world.graph.machines = [
        replace(snapshot(SUB_A, "upgrades"), agent_version=CURRENT, auto_upgrade=True),
        replace(
            snapshot(SUB_A, "fails"),
            auto_upgrade=True,
            last_attempt_status="Failed",
            last_attempt_timestamp="2026-11-21T01:30:00Z",
            last_attempt_message="download failed",
        ),
    ]
    tally = world.follow_up.check_cohort(CheckCohort(RUN, 0, LATER)).tally
    assert tally.counts == {"upgraded": 1, "upgrade_failed": 1, "gone": 1} and tally.unsettled == 1
    rows = {r.name: r for r in world.tables.machines(RUN, SUB_A)}
    assert rows["fails"].failed_since == "2026-11-21T01:30:00Z" and rows["fails"].updated_at == LATER
    fleet = {f.name: f for f in world.tables.fleet(SUB_A).values()}
    assert fleet["upgrades"].last_outcome == Outcome.UPGRADED and fleet["upgrades"].agent_version == CURRENT
    assert fleet["fails"].failing_since == "2026-11-21T01:30:00Z"


def test_settled_machines_are_not_read_again(world):
    enabled(world, "upgrades")
    world.graph.machines = [replace(snapshot(SUB_A, "upgrades"), agent_version=CURRENT)]
    world.follow_up.check_cohort(CheckCohort(RUN, 0, LATER))
    queries = world.graph.queries
    assert world.follow_up.check_cohort(CheckCohort(RUN, 0, LATER)).tally.counts == {"upgraded": 1}
    assert world.graph.queries == queries


def test_a_poll_resource_graph_refuses_raises_and_changes_nothing(world):
    enabled(world, "vm")
    before = dict(world.tables.machine_rows)
    world.graph.fail = RuntimeError("throttled")
    with pytest.raises(RuntimeError, match="throttled"):
        world.follow_up.check_cohort(CheckCohort(RUN, 0, LATER))
    assert world.tables.machine_rows == before


def test_each_check_keeps_the_day_s_counts_on_the_run_row(world):
    enabled(world, "upgrades", "pending")
    world.graph.machines = [
        snapshot(SUB_A, "upgrades", auto_upgrade=True),
        snapshot(SUB_A, "pending", auto_upgrade=True),
    ]
    world.follow_up.check_cohort(CheckCohort(RUN, 0, "2026-11-21T09:00:00Z"))
    world.graph.machines[0] = replace(world.graph.machines[0], agent_version=CURRENT)
    world.follow_up.check_cohort(CheckCohort(RUN, 0, LATER))
    assert world.tables.get_run(RUN).outcome_history == {
        "2026-11-21": {"0": {"pending": 2}},
        "2026-11-22": {"0": {"upgraded": 1, "pending": 1}},
    }
