"""The catalogue keeps itself current: releases learned from the estate, staleness said, URL fetched."""

from __future__ import annotations

from dataclasses import replace

from arc_sweeper.catalogue import ReleaseCatalogue
from arc_sweeper.messages import DiscoverBatch, PhaseEnd, StartRun, SweepRequest
from arc_sweeper.vocabulary import Finding, Trigger
from tests.steps.conftest import AS_OF, SUB_A, snapshot

NEWER = "1.68.03533.1400"  # a release the bundled catalogue (newest 1.67, 2026-08) does not list


def run(world, run_id: str, as_of: str = AS_OF):
    world.scope.start_run(StartRun(SweepRequest(run_id, Trigger.TIMER, dry_run=True), as_of))
    world.discovery.discover_batch(DiscoverBatch(run_id, 0, as_of))
    world.closing.finish_enabling(PhaseEnd(run_id, as_of))
    return world.tables.get_run(run_id), {r.name: r for r in world.tables.all_machines(run_id)}


def test_an_unlisted_release_is_learned_once_with_its_first_sighting(world):
    world.graph.machines = [snapshot(SUB_A, "early", version=NEWER), snapshot(SUB_A, "late", version=NEWER)]
    run(world, "day-1")
    run(world, "day-2", "2026-11-21T09:00:00Z")
    [learned] = world.tables.observed_releases()
    assert (learned.release, learned.first_seen_at, learned.run_id) == ("1.68", AS_OF, "day-1")
    assert learned.first_seen_on.endswith("/machines/early") and learned.source == "observed"
    assert world.tables.get_run("day-2").catalogue["1.68"] == "2026-11"  # dated by the month first seen


def test_a_year_on_a_machine_still_on_the_learned_release_is_out_of_support(world):
    world.graph.machines = [snapshot(SUB_A, "vm", version=NEWER)]
    _, rows = run(world, "2026")
    assert Finding.OUT_OF_SUPPORT not in rows["vm"].findings
    _, rows = run(world, "2027", "2027-12-15T09:00:00Z")
    assert Finding.OUT_OF_SUPPORT in rows["vm"].findings


def test_an_implausible_release_is_not_learned(world):
    world.graph.machines = [snapshot(SUB_A, "odd", version="1.100.0.0")]
    run(world, "day-1")
    assert world.tables.observed_releases() == []


def test_the_stale_notice_is_raised_by_a_newer_release_or_an_old_catalogue_and_cleared_otherwise(world):
    world.graph.machines = [snapshot(SUB_A, "vm", version="1.67.03504.1320")]
    fresh, _ = run(world, "fresh", "2026-09-10T09:00:00Z")
    assert fresh.notices == ()
    old, _ = run(world, "old", "2026-11-20T09:00:00Z")  # newest 1.67 (2026-08) is three months old
    [notice] = old.notices
    assert "stale" in notice and "1.67 (2026-08)" in notice and "3 months old" in notice
    world.graph.machines.append(snapshot(SUB_A, "ahead", version=NEWER))
    ahead, _ = run(world, "ahead", "2026-09-12T09:00:00Z")
    [notice] = ahead.notices
    assert "the estate runs agent 1.68, newer than the catalogue's newest 1.67" in notice
    assert world.alerts.payloads[-1]["notices"] == [notice]


def test_a_catalogue_url_is_fetched_once_per_run_and_a_broken_one_falls_back_with_a_notice(world):
    served = ReleaseCatalogue.from_json(
        {"releases": [{"version": "1.70", "released": "2026-11"}, {"version": "1.40", "released": "2024-04"}]},
        "https://feed",
    )
    url = "https://feed.example/releases.json?sv=2024&sig=SECRETSIGNATURE000"
    world.env["AGENT_RELEASES_FILE"] = url
    world.feed[url] = served
    used, _ = run(world, "fetched")
    assert set(used.catalogue) == {"1.70", "1.40"} and used.catalogue_base_newest == "1.70" and used.notices == ()
    del world.feed[url]
    fell_back, _ = run(world, "fallback")
    assert fell_back.catalogue["1.67"] == "2026-08"  # the bundled one
    assert any("could not be used" in n and "answered HTTP 404" in n for n in fell_back.notices)
    assert all("SECRETSIGNATURE" not in n for n in fell_back.notices) and fell_back.status != "failed"


def test_a_run_row_without_a_catalogue_classifies_by_the_configured_one(world):
    world.graph.machines = [snapshot(SUB_A, "vm")]
    world.started("legacy")
    world.tables.put_run(replace(world.tables.get_run("legacy"), catalogue={}, catalogue_origin=""))
    result = world.discovery.discover_batch(DiscoverBatch("legacy", 0, AS_OF))
    assert result.machines == 1
