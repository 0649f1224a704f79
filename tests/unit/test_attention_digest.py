"""The attention digest: every item counted, only the most urgent kept, whatever order they come in."""

from __future__ import annotations

import heapq
import random
from collections import Counter

import pytest

from arc_sweeper.reporting.attention import AttentionDigest, AttentionItem, urgency
from arc_sweeper.vocabulary import AttentionKind


def items(count: int, seed: int) -> list[AttentionItem]:
    rng = random.Random(seed)
    kinds = list(AttentionKind)
    return [
        AttentionItem(
            rng.choice(kinds),
            f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.HybridCompute/machines/m{rng.randrange(10**6):06}",
            "s",
            f"m{i}",
            since=rng.choice(["", "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z"]),
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_the_digest_keeps_the_most_urgent_and_counts_all_however_they_arrive(seed):
    every = items(700, seed)
    rng = random.Random(seed)
    digest, merged = AttentionDigest(keep=25), AttentionDigest(keep=25)
    start = 0
    while start < len(every):
        step = rng.randrange(1, 90)
        part = AttentionDigest(keep=25)
        part.add(every[start : start + step])
        digest.add(every[start : start + step])
        merged.merge(part)
        start += step
    expected = tuple(heapq.nsmallest(25, every, key=urgency))
    assert digest.kept() == merged.kept() == expected
    assert digest.counts == merged.counts == Counter(item.kind for item in every)


def test_without_a_bound_the_digest_keeps_every_item_most_urgent_first():
    every = items(300, 7)
    digest = AttentionDigest(keep=None)
    digest.add(every)
    assert digest.kept() == tuple(sorted(every, key=urgency))
