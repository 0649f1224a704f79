"""The benchmark measures what it claims: the floor, the counts from the simulator's log, the designs' histories."""

from __future__ import annotations

import argparse
from datetime import timedelta

import pytest

from local_stack.bench.__main__ import TEN_THOUSAND, custom_estate
from local_stack.bench.estates import Estate, Floor
from local_stack.bench.orchestration import enabling_scenario, follow_up_scenario
from local_stack.bench.orchestration import measure as measure_orchestration
from local_stack.bench.scale import measure
from local_stack.bench.simulator_process import simulator_stats
from local_stack.bench.sweeps import PRODUCT, REMEDIATION, SEQUENTIAL
from local_stack.clock import RealClock
from local_stack.simulator import Fleet, FleetSimulator, Latency, Subscription, ThrottleSettings
from local_stack.simulator.fates import FateLedger
from tests.e2e.support import compliant, guid, to_enable


def test_follow_up_history_stays_flat_while_the_one_execution_variant_grows():
    product, product_input, naive, naive_input = follow_up_scenario(3, timedelta(days=2), timedelta(hours=6))
    ours, theirs = measure_orchestration(product, product_input), measure_orchestration(naive, naive_input)
    assert ours.max_history < 30  # one poll's worth: continue_as_new after every poll
    assert theirs.max_history > 4 * ours.max_history
    assert theirs.replayed_events > ours.replayed_events


def test_chunked_enabling_replays_far_less_than_one_activity_per_machine():
    product, product_input, naive, naive_input = enabling_scenario(200)
    ours, theirs = measure_orchestration(product, product_input), measure_orchestration(naive, naive_input)
    assert ours.max_history < 30  # two chunks
    assert theirs.max_history > 400  # two events per machine
    assert theirs.replayed_events > 10 * ours.replayed_events


def test_the_floor_is_the_busiest_subscription_at_the_refill_rate_after_pages_at_the_quota_rate():
    subscriptions = [Subscription(guid(n), f"s{n}") for n in range(1, 4)]
    subscriptions.append(Subscription(guid(9), "x", state="Disabled"))
    machines = (
        [to_enable(guid(1), "rg", f"a{i}") for i in range(30)]
        + [to_enable(guid(2), "rg", f"b{i}") for i in range(8)]
        + [compliant(guid(3), "rg", f"c{i}") for i in range(2500)]
        + [to_enable(guid(9), "rg", "d")]
    )
    fleet = Fleet(subscriptions, machines)
    fleet.fates = FateLedger.of(fleet)
    limits = ThrottleSettings(arg_quota=2, arg_window_seconds=5.0, write_burst=10, write_refill_per_second=4.0)
    floor = Floor.of(fleet, limits, Latency(read_s=0.5, write_s=0.25))
    assert (floor.writes, floor.largest_subscription) == (38, 30)
    assert (floor.pages, floor.batches) == (3, 1)  # 2,538 rows, 1,000 a page
    assert floor.extension_pages == 1  # these machines have no extensions: one empty page
    assert floor.discovery_s == 5.0 + 0.5  # pages 1-2 in the first window, page 3 in the next
    assert floor.enabling_s == (30 - 10) / 4.0 + 0.25
    assert floor.sweep_s == floor.discovery_s + floor.enabling_s


def test_the_harness_counts_patches_429s_and_rows_from_the_simulator_and_the_worker():
    """A small estate end to end: the product and the sequential client, each against a fresh simulator."""
    estate = Estate("smoke", 200, 4, ThrottleSettings(write_burst=5, write_refill_per_second=10.0), Latency())
    product = measure(estate, PRODUCT, activity_workers=4, timeout_s=120)
    floor = product.floor
    assert floor.writes > 20 and floor.enabling_s == (floor.largest_subscription - 5) / 10.0
    assert product.complete and product.azure.problems == () and product.azure.repeated == 0
    assert 0 <= product.azure.patches - product.azure.patches_throttled - floor.writes <= 1  # an odd version: either
    assert product.run.planned >= floor.writes
    assert product.run.table_rows >= 200 + 2 * floor.writes  # discovery's rows, then intent and result
    assert 0 < product.run.table_requests < product.run.table_rows
    assert product.run.worker_processes == 1 and product.run.host_cost is not None  # 4 activities fit in one worker
    assert product.run.largest_history > 0 and product.run.cost.peak_rss_mb > 0 and product.storage is not None
    assert floor.pages <= product.azure.arg_requests <= floor.pages + floor.extension_pages + floor.batches
    assert product.azure.arg_batches == floor.batches
    assert product.run.started_at < product.run.discovered_at <= product.azure.first_patch_at < product.run.finished_at
    last = product.azure.last_granted  # the subscription that finished last: where enabling's time went
    assert last[-1] == product.azure.last_patch_at or product.azure.patches_throttled > 0  # a 429 may come last
    assert 0 < len(last) <= floor.largest_subscription and list(last) == sorted(last)
    phases = product.phases()
    assert [p.name for p in phases] == ["discovery", "enabling", "closing"]
    assert abs(sum(p.seconds for p in phases) - product.sweep_s) < 1e-6
    assert all(p.seconds >= 0 for p in phases)
    assert 0 < max(p.peak_rss_mb for p in phases) <= product.run.cost.peak_rss_mb + 1  # sampled, never above the peak
    assert all(p.peak_threads >= 1 for p in phases if p.seconds > 1)  # each phase that lasts is sampled
    assert max(p.peak_threads for p in phases) >= 4  # the worker's main thread, activity threads, their pools

    sequential = measure(estate, SEQUENTIAL)
    assert sequential.complete and sequential.azure.problems == ()
    assert sequential.azure.patches == sequential.run.planned + sequential.azure.patches_throttled
    assert sequential.azure.patches_throttled > 0 and sequential.azure.early == 0  # each Retry-After waited out
    assert sequential.run.table_rows == 0 and sequential.enabling_s >= floor.enabling_s


def test_a_capped_baseline_is_projected_from_the_share_it_sent():
    estate = Estate("smoke", 200, 4, ThrottleSettings(write_burst=2, write_refill_per_second=1.0), Latency())
    capped = measure(estate, REMEDIATION, cap_s=1.0)
    assert not capped.complete and 0 < capped.run.sent < capped.run.planned
    assert capped.enabling_s > capped.enabling_s_measured * 1.5


def test_missed_machines_that_disconnected_during_the_run_are_told_apart():
    """A fate is decided at the start: a machine that disconnects before the sweep reads it is missed, and
    the benchmark says how many of the missed ones that explains."""
    machines = [to_enable(guid(1), "rg", name) for name in ("stays", "leaves", "goes")]
    fleet = Fleet([Subscription(guid(1), "s1")], machines)
    fleet.fates = FateLedger.of(fleet)
    machines[1].properties["status"] = "Disconnected"
    machines[2].deleted = True
    stats = simulator_stats(FleetSimulator(fleet, RealClock()), cpu_at_start=0.0)
    assert len(stats.problems) == 3 and stats.drifted == 2


def test_a_custom_estate_takes_the_ten_thousand_machine_estates_limits_and_refuses_nonsense():
    estate = custom_estate("20000/200")
    assert (estate.machines, estate.subscriptions) == (20_000, 200)
    assert (estate.throttling, estate.latency) == (TEN_THOUSAND.throttling, TEN_THOUSAND.latency)
    for text in ("20000", "200/20000", "20000/0", "x/200", "20000/-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="MACHINES/SUBSCRIPTIONS"):
            custom_estate(text)
