"""Outcome counts per day: a batch's later check replaces its earlier one; missing batches carry over."""

from __future__ import annotations

import pytest

from arc_sweeper.outcome_history import daily_totals, with_check


def test_a_later_check_of_the_same_batch_on_the_same_day_replaces_the_earlier_one():
    history = with_check({}, "2026-11-20T09:00:00Z", 0, {"pending": 3})
    history = with_check(history, "2026-11-20T21:00:00Z", 0, {"pending": 1, "upgraded": 2})
    assert history == {"2026-11-20": {"0": {"pending": 1, "upgraded": 2}}}
    assert with_check(history, "2026-11-20T21:00:00Z", 0, {"pending": 1, "upgraded": 2}) == history  # a retry


def test_days_add_up_every_batch_and_carry_over_a_batch_without_a_check_that_day():
    history = with_check({}, "2026-11-20T09:00:00Z", 0, {"pending": 3})
    history = with_check(history, "2026-11-20T09:05:00Z", 1, {"pending": 2})
    history = with_check(history, "2026-11-21T09:00:00Z", 0, {"upgraded": 3})  # batch 1's check failed
    history = with_check(history, "2026-11-22T09:05:00Z", 1, {"upgraded": 1, "stuck": 1})
    assert daily_totals(history) == {
        "2026-11-20": {"pending": 5},
        "2026-11-21": {"upgraded": 3, "pending": 2},
        "2026-11-22": {"upgraded": 4, "stuck": 1},
    }


def test_the_day_is_the_utc_day_of_the_check():
    assert list(with_check({}, "2026-11-20T23:30:00-02:00", 0, {})) == ["2026-11-21"]
    with pytest.raises(ValueError, match="checked_at"):
        with_check({}, "yesterday", 0, {})
