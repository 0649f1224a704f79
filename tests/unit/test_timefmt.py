"""Timestamps: every form Azure writes is read; anything else, even out of range, is None, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arc_sweeper.timefmt import iso, parse_timestamp


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-25T01:30:00.1234567Z", datetime(2026, 11, 25, 1, 30, 0, 123456, tzinfo=UTC)),
        ("2026-11-25T03:30:00+02:00", datetime(2026, 11, 25, 1, 30, tzinfo=UTC)),
        ("2026-11-25T01:30:00", datetime(2026, 11, 25, 1, 30, tzinfo=UTC)),
    ],
)
def test_azure_forms(text, expected):
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-13-01T00:00:00Z"]
)
def test_odd_or_out_of_range_is_none(text):
    assert parse_timestamp(text) is None


@given(st.text(max_size=40))
def test_never_raises(text):
    parse_timestamp(text)


def test_one_format_is_written():
    assert iso(datetime(2026, 11, 25, 3, 30, tzinfo=UTC)) == "2026-11-25T03:30:00Z"
