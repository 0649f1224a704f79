"""Agent version parsing and ordering: wild strings from the field, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arc_sweeper.versions import (
    AgentVersion,
    format_release,
    parse_agent_version,
    parse_release,
)


def v(major: int, minor: int, build: int | None = None, revision: int | None = None) -> AgentVersion:
    return AgentVersion(major, minor, build, revision)


PARSED = [
    # Four-part forms as Azure reports them (Linux and Windows builds of one release).
    ("1.58.03224.693", v(1, 58, 3224, 693)),
    ("1.58.03228.700", v(1, 58, 3228, 700)),
    ("1.53.03070.2299", v(1, 53, 3070, 2299)),
    ("1.67.03504.3207", v(1, 67, 3504, 3207)),
    ("1.28.02260.736", v(1, 28, 2260, 736)),  # apt
    # Two and three parts.
    ("1.58", v(1, 58)),
    ("1.60.03293", v(1, 60, 3293)),
    ("1.0", v(1, 0)),
    ("0.9", v(0, 9)),
    ("2.0.0.0", v(2, 0, 0, 0)),
    # Leading zeros, whitespace, a leading v.
    ("01.059.03224.0693", v(1, 59, 3224, 693)),
    ("  1.58.03224.693  ", v(1, 58, 3224, 693)),
    ("\t1.58\n", v(1, 58)),
    ("v1.58", v(1, 58)),
    ("V1.60.03293.809", v(1, 60, 3293, 809)),
    # Suffixes after a numeric prefix are ignored.
    ("1.62.0-beta", v(1, 62, 0)),
    ("1.62-beta.1", v(1, 62)),
    ("1.62.0+build", v(1, 62, 0)),
    ("1.62.0.1+build.7", v(1, 62, 0, 1)),
    ("1.62 (preview)", v(1, 62)),
    ("1.62.03400.1 (preview)", v(1, 62, 3400, 1)),
    ("1.62.0~rc1", v(1, 62, 0)),
    ("1.62.0_x64", v(1, 62, 0)),
    ("1.62.0[test]", v(1, 62, 0)),
    ("1.62.0-1beta", v(1, 62, 0)),  # dash + digits + letters: a suffix, not a revision
    ("1.58.03224-", v(1, 58, 3224)),  # a lone trailing dash is an empty suffix
    # yum/zypper: a dash and only digits after three parts is the package revision.
    ("1.28.02260-755", v(1, 28, 2260, 755)),
    ("1.62.0-1", v(1, 62, 0, 1)),
    # As printed in the release notes for 1.61 on Linux (revision run into the build).
    ("1.61.03310848", v(1, 61, 3310848)),
    # Ten significant digits is the longest part accepted; leading zeros do not count.
    ("1.58.9999999999", v(1, 58, 9999999999)),
    ("1.58.000000000000001", v(1, 58, 1)),
]

REJECTED = [
    None,
    "",
    "   ",
    "1",
    "1.",
    "1.58.",
    ".58",
    "garbage",
    "a.b",
    "1.b",
    "-1.58",
    "1.-58",
    "+1.58",
    "1.5.6.7.8",
    "1.62rc1",
    "1.62.0beta",
    "1,58",
    "1 . 58",
    "vv1.58",
    "version 1.58",
    "12345678901.1",
    "1.58.03224.12345678901",
    "\u0661.\u0665\u0668",  # Arabic-Indic digits are not ASCII digits
    "1.58\x00",
    "1e3.5",
    "0x1.5",
    "1.5.",
    "unknown",
    "null",
]


@pytest.mark.parametrize(("raw", "expected"), PARSED)
def test_parses_plausible_and_wild_strings(raw: str, expected: AgentVersion) -> None:
    assert parse_agent_version(raw) == expected


@pytest.mark.parametrize("raw", REJECTED)
def test_rejects_unparsable_strings_as_unknown(raw: str | None) -> None:
    assert parse_agent_version(raw) is None


def test_thousands_of_digits_neither_raise_nor_parse() -> None:
    # int() refuses strings of more than 4300 digits; parsing must not reach it.
    assert parse_agent_version("1." + "0" * 5000 + "58") == v(1, 58)
    assert parse_agent_version("1." + "9" * 5000) is None
    assert parse_release("1." + "9" * 5000) is None


@pytest.mark.parametrize("raw", [158, 1.58, b"1.58", ["1.58"], object()])
def test_non_strings_are_unknown(raw: object) -> None:
    assert parse_agent_version(raw) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("01.059.03224.0693", "1.59.3224.693"),
        ("1.58", "1.58"),
        ("1.60.03293", "1.60.3293"),
        ("1.28.02260-755", "1.28.2260.755"),
        ("v1.62.0-beta", "1.62.0"),
    ],
)
def test_str_is_the_normalised_form(raw: str, normalised: str) -> None:
    assert str(parse_agent_version(raw)) == normalised


def test_release_is_major_and_minor() -> None:
    assert v(1, 58, 3224, 693).release == (1, 58)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.9", "1.10"),
        ("1.9.99999.9999", "1.10"),
        ("1.57.03197.2516", "1.58.03224.693"),
        ("1.58.03224.2567", "1.58.03228.700"),  # hotfix: higher build
        ("1.58.03224.693", "1.58.03224.2567"),  # Linux vs Windows revision
        ("1.58", "1.58.0"),  # a missing part sorts below a present one
        ("1.58.0", "1.58.0.0"),
        ("1.58.03224", "1.58.03224.0"),
        ("1.99", "2.0"),
        ("0.9", "1.0"),
    ],
)
def test_orders_numerically_never_as_text(older: str, newer: str) -> None:
    old, new = parse_agent_version(older), parse_agent_version(newer)
    assert old is not None and new is not None
    assert old < new and new > old and old <= new and new >= old and old != new


def test_equal_versions_compare_equal_whatever_the_spelling() -> None:
    assert parse_agent_version("01.058.03224") == parse_agent_version("v1.58.3224 (preview)")


def test_comparing_with_another_type_is_not_supported() -> None:
    with pytest.raises(TypeError):
        _ = v(1, 58) < "1.59"  # type: ignore[operator]


@pytest.mark.parametrize(
    "parts", [(-1, 58, None, None), (1, -58, None, None), (1, 58, -1, None), (1, 58, 1, -1), (1, 58, None, 1)]
)
def test_constructor_rejects_impossible_versions(parts: tuple[int, int, int | None, int | None]) -> None:
    with pytest.raises(ValueError):
        AgentVersion(*parts)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.57", (1, 57)),
        (" 1.57 ", (1, 57)),
        ("01.057", (1, 57)),
        ("1.57.1", None),
        ("1", None),
        ("v1.57", None),
        ("1.57-beta", None),
        ("", None),
        ("1.12345678901", None),
        ("1.0000000000057", (1, 57)),
    ],
)
def test_parse_release_is_strict_major_minor(raw: str, expected: tuple[int, int] | None) -> None:
    assert parse_release(raw) == expected


def test_format_release() -> None:
    assert format_release((1, 57)) == "1.57"


# --- Properties -------------------------------------------------------------------------

parts = st.integers(min_value=0, max_value=9_999_999_999)


@st.composite
def agent_versions(draw: st.DrawFn) -> AgentVersion:
    build = draw(st.none() | parts)
    revision = None if build is None else draw(st.none() | parts)
    return AgentVersion(draw(parts), draw(parts), build, revision)


def tuple_key(version: AgentVersion) -> tuple[int, int, int, int]:
    missing = -1
    return (
        version.major,
        version.minor,
        missing if version.build is None else version.build,
        missing if version.revision is None else version.revision,
    )


@given(st.text())
def test_parsing_arbitrary_text_never_raises(raw: str) -> None:
    result = parse_agent_version(raw)
    assert result is None or isinstance(result, AgentVersion)


@given(st.from_regex(r"\A\s*v?[0-9.\-+ ()a-z]{0,30}\s*\Z"))
def test_parsing_version_like_text_never_raises(raw: str) -> None:
    result = parse_agent_version(raw)
    assert result is None or (result.major >= 0 and result.minor >= 0)


@given(agent_versions())
def test_str_then_parse_round_trips(version: AgentVersion) -> None:
    assert parse_agent_version(str(version)) == version


@given(agent_versions(), st.sampled_from(["", "-beta", "+build.5", " (preview)"]), st.booleans())
def test_decorations_do_not_change_the_version(version: AgentVersion, suffix: str, leading_v: bool) -> None:
    padded = ".".join(f"00{part}" for part in str(version).split("."))
    assert parse_agent_version(f"  {'v' if leading_v else ''}{padded}{suffix} ") == version


@given(agent_versions(), agent_versions())
def test_ordering_matches_tuple_ordering(first: AgentVersion, second: AgentVersion) -> None:
    assert (first < second) == (tuple_key(first) < tuple_key(second))
    assert (first == second) == (tuple_key(first) == tuple_key(second))
    assert (first <= second) == (tuple_key(first) <= tuple_key(second))


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_minor_compares_as_a_number(a: int, b: int) -> None:
    first, second = parse_agent_version(f"1.{a}"), parse_agent_version(f"1.{b}")
    assert first is not None and second is not None
    assert (first < second) == (a < b)
