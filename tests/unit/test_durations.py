"""Duration settings: ISO 8601 and short forms in, ISO 8601 out."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arc_sweeper.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P7D", timedelta(days=7)),
        ("PT12H", timedelta(hours=12)),
        ("P1DT6H", timedelta(days=1, hours=6)),
        ("PT30M", timedelta(minutes=30)),
        ("PT45S", timedelta(seconds=45)),
        ("P1W", timedelta(weeks=1)),
        ("P1W2D", timedelta(days=9)),
        ("P1DT1H1M1S", timedelta(days=1, hours=1, minutes=1, seconds=1)),
        ("PT36H", timedelta(hours=36)),
        ("PT90M", timedelta(minutes=90)),
        ("p7d", timedelta(days=7)),
        ("  P3D ", timedelta(days=3)),
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1w1d1h1m1s", timedelta(weeks=1, days=1, hours=1, minutes=1, seconds=1)),
        ("12H", timedelta(hours=12)),
        ("007d", timedelta(days=7)),
    ],
)
def test_parses_iso_and_short_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected ISO 8601"),
        ("P", "expected ISO 8601"),
        ("PT", "expected ISO 8601"),
        ("P1DT", "expected ISO 8601"),
        ("P1Y", "years and months are ambiguous"),
        ("P1M", "years and months are ambiguous"),
        ("P1Y2M3D", "years and months are ambiguous"),
        ("P1DT1Y", "expected ISO 8601"),
        ("P0D", "longer than zero"),
        ("PT0S", "longer than zero"),
        ("0s", "longer than zero"),
        ("0d0h", "longer than zero"),
        ("-P1D", "expected ISO 8601"),
        ("-1d", "expected ISO 8601"),
        ("PT1.5H", "expected ISO 8601"),
        ("1.5h", "expected ISO 8601"),
        ("7", "expected ISO 8601"),
        ("12h7d", "expected ISO 8601"),  # units must go from largest to smallest
        ("1d 12h", "expected ISO 8601"),
        ("7 days", "expected ISO 8601"),
        ("3.00:00:00", "expected ISO 8601"),  # .NET TimeSpan is not accepted
        ("P1D1H", "expected ISO 8601"),  # hours need the T
        ("99999999999999d", "too long"),
    ],
)
def test_rejects_with_a_message_naming_the_accepted_forms(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_duration(text)
    if message != "too long":
        assert "P7D" in str(raised.value) and "7d" in str(raised.value)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(days=7), "P7D"),
        (timedelta(hours=12), "PT12H"),
        (timedelta(days=1, hours=6), "P1DT6H"),
        (timedelta(minutes=30), "PT30M"),
        (timedelta(seconds=45), "PT45S"),
        (timedelta(weeks=2), "P14D"),
        (timedelta(days=1, seconds=1), "P1DT1S"),
        (timedelta(hours=1, minutes=1, seconds=1), "PT1H1M1S"),
        (timedelta(0), "PT0S"),
        (timedelta(milliseconds=500), "PT0.5S"),
        (timedelta(seconds=3, microseconds=1), "PT3.000001S"),
        (timedelta(days=-1), "-P1D"),
        (timedelta(hours=-12), "-PT12H"),
    ],
)
def test_formats_as_iso_8601(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


@given(
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=100_000)).map(
        lambda duration: timedelta(seconds=int(duration.total_seconds()))
    )
)
def test_format_then_parse_round_trips_whole_seconds(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


@given(st.text())
def test_parsing_arbitrary_text_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert parse_duration(text) > timedelta(0)


@given(st.from_regex(r"\AP?T?([0-9]{0,12}[WDHMSY]){0,5}\Z", fullmatch=True))
def test_parsing_duration_like_text_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        assert parse_duration(text) > timedelta(0)
