"""The benchmark's scenarios still run, and the product's designs keep their histories bounded."""
from __future__ import annotations

from datetime import timedelta

from local_stack.bench import enabling_scenario, follow_up_scenario, measure


def test_follow_up_history_stays_flat_while_the_one_execution_variant_grows():
    product, product_input, naive, naive_input = follow_up_scenario(3, timedelta(days=2), timedelta(hours=6))
    ours, theirs = measure(product, product_input), measure(naive, naive_input)
    assert ours.max_history < 30  # one poll's worth: continue_as_new after every poll
    assert theirs.max_history > 4 * ours.max_history
    assert theirs.replayed_events > ours.replayed_events


def test_chunked_enabling_replays_far_less_than_one_activity_per_machine():
    product, product_input, naive, naive_input = enabling_scenario(200)
    ours, theirs = measure(product, product_input), measure(naive, naive_input)
    assert ours.max_history < 30  # two chunks
    assert theirs.max_history > 400  # two events per machine
    assert theirs.replayed_events > 10 * ours.replayed_events
