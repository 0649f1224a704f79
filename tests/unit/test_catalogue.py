"""The release catalogue: bundled data, overrides, support window and release distance."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from arc_sweeper.catalogue import CatalogueError, ReleaseCatalogue
from arc_sweeper.versions import AgentVersion, parse_agent_version

BUNDLED = ReleaseCatalogue.load()
AUGUST_2026 = date(2026, 8, 15)


def version(text: str) -> AgentVersion:
    parsed = parse_agent_version(text)
    assert parsed is not None
    return parsed


def catalogue(*releases: tuple[str, str]) -> ReleaseCatalogue:
    return ReleaseCatalogue.from_json(
        {"releases": [{"version": number, "released": month} for number, month in releases]}
    )


# --- Bundled data ---------------------------------------------------------------------


def test_bundled_catalogue_holds_every_release_from_1_0_to_1_67() -> None:
    assert [entry.release for entry in BUNDLED.releases] == [(1, minor) for minor in range(68)]
    assert BUNDLED.newest() == (1, 67)


@pytest.mark.parametrize(
    ("release", "month"),
    [
        ((1, 0), date(2020, 9, 1)),
        ((1, 3), date(2020, 12, 1)),
        ((1, 8), date(2021, 7, 1)),
        ((1, 9), date(2021, 7, 1)),
        ((1, 25), date(2023, 1, 1)),
        ((1, 26), date(2023, 1, 1)),
        ((1, 37), date(2023, 12, 1)),
        ((1, 38), date(2024, 2, 1)),
        ((1, 41), date(2024, 5, 1)),
        ((1, 42), date(2024, 5, 1)),
        ((1, 47), date(2024, 10, 1)),
        ((1, 48), date(2025, 1, 1)),
        ((1, 57), date(2025, 10, 1)),
        ((1, 67), date(2026, 8, 1)),
    ],
)
def test_bundled_release_months_match_the_reference_table(release: tuple[int, int], month: date) -> None:
    assert BUNDLED.release_month(release) == month


def test_bundled_catalogue_has_no_releases_in_the_documented_gaps() -> None:
    months = {entry.month for entry in BUNDLED.releases}
    assert {date(2024, 1, 1), date(2024, 11, 1), date(2024, 12, 1)}.isdisjoint(months)


def test_bundled_file_carries_its_source_and_date_for_people() -> None:
    path = Path(__file__).parents[2] / "arc_sweeper" / "data" / "agent_releases.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["source"] and data["updated"]
    assert ReleaseCatalogue.load(str(path)).releases == BUNDLED.releases


def test_release_month_of_an_unlisted_release_is_none() -> None:
    assert BUNDLED.release_month((1, 68)) is None
    assert BUNDLED.release_month((2, 0)) is None


# --- Support window -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "sweep_date", "window", "supported"),
    [
        # Boundary: a sweep in August 2026 with 12 months still supports August 2025 (1.55).
        ("1.55.03000.1", AUGUST_2026, 12, True),
        ("1.54.99999.1", AUGUST_2026, 12, False),
        ("1.55", date(2026, 8, 1), 12, True),
        ("1.55", date(2026, 8, 31), 12, True),
        ("1.55", date(2026, 9, 1), 12, False),
        # Across a year boundary: January 2026 supports January 2025 (1.48), not October 2024.
        ("1.48", date(2026, 1, 31), 12, True),
        ("1.47", date(2026, 1, 1), 12, False),
        # Other windows.
        ("1.67", AUGUST_2026, 0, True),
        ("1.66", AUGUST_2026, 0, False),
        ("1.66", AUGUST_2026, 1, True),
        ("1.0", AUGUST_2026, 120, True),
        ("1.0", AUGUST_2026, 70, False),
        # Old agents, and agents released after the sweep date (back-dated sweep).
        ("1.0", AUGUST_2026, 12, False),
        ("0.9", AUGUST_2026, 12, False),
        ("1.67", date(2025, 1, 1), 12, True),
    ],
)
def test_supported_means_released_within_the_window(agent: str, sweep_date: date, window: int, supported: bool) -> None:
    assert BUNDLED.is_supported(version(agent), sweep_date, window) is supported


@pytest.mark.parametrize("agent", ["1.68", "1.68.04000.1", "2.0", "1.100"])
def test_versions_newer_than_the_catalogue_count_as_current(agent: str) -> None:
    assert BUNDLED.is_supported(version(agent), date(2040, 1, 1), 12)


def test_an_unlisted_release_takes_the_month_of_the_next_listed_release() -> None:
    gappy = catalogue(("1.10", "2025-01"), ("1.12", "2025-06"))
    sweep = date(2026, 3, 1)  # 12 months back: March 2025
    assert not gappy.is_supported(version("1.10"), sweep, 12)
    assert gappy.is_supported(version("1.11.500.3"), sweep, 12)  # dated June 2025, like 1.12
    assert not gappy.is_supported(version("1.9"), sweep, 12)  # dated January 2025, like 1.10


# --- Latest and distance --------------------------------------------------------------


def test_latest_is_the_catalogue_newest_unless_the_fleet_reports_newer() -> None:
    on = date(2026, 11, 30)  # three months after the catalogue's newest (1.67, August 2026)
    assert BUNDLED.latest([], on) == (1, 67)
    assert BUNDLED.latest([version("1.58.03224.693"), version("1.60")], on) == (1, 67)
    assert BUNDLED.latest([version("1.58"), version("1.68.04000.1")], on) == (1, 68)
    assert BUNDLED.latest([version("1.71")], on) == (1, 71)  # one a month, plus the month in progress
    assert BUNDLED.latest([version("1.100"), version("2.3")], on) == (1, 67)  # not plausible: ignored


@pytest.mark.parametrize(
    ("agent", "latest", "behind"),
    [
        ("1.67.03504.1320", (1, 67), 0),
        ("1.66", (1, 67), 1),
        ("1.65.9", (1, 67), 2),
        ("1.57", (1, 67), 10),
        ("1.40", (1, 43), 3),  # 1.41 and 1.42 shipped the same month: still two releases
        ("1.67", (1, 68), 1),  # latest reported by the fleet, not yet in the catalogue
        ("1.66", (1, 68), 2),
        ("1.68", (1, 68), 0),
        ("1.68", (1, 67), 0),  # newer than latest
    ],
)
def test_releases_behind_counts_releases_after_the_version(agent: str, latest: tuple[int, int], behind: int) -> None:
    assert BUNDLED.releases_behind(version(agent), latest) == behind


# --- Loading and malformed files ------------------------------------------------------


def test_a_file_path_overrides_the_bundled_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    path.write_text(json.dumps({"releases": [{"version": "1.68", "released": "2026-09"}]}), encoding="utf-8")
    loaded = ReleaseCatalogue.load(str(path))
    assert loaded.newest() == (1, 68)
    assert loaded.origin == str(path)


def test_entries_may_come_in_any_order() -> None:
    shuffled = catalogue(("1.2", "2020-11"), ("1.0", "2020-09"), ("1.1", "2020-10"))
    assert [entry.release for entry in shuffled.releases] == [(1, 0), (1, 1), (1, 2)]


def entry(version_text: Any = "1.67", released: Any = "2026-08") -> dict[str, Any]:
    return {"version": version_text, "released": released}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], 'expected an object with a "releases" list'),
        ({}, 'expected an object with a "releases" list'),
        ({"releases": {"1.67": "2026-08"}}, 'expected an object with a "releases" list'),
        ({"releases": []}, "no releases"),
        ({"releases": ["1.67"]}, "releases[0]: expected an object"),
        ({"releases": [entry(), entry("1.67.1")]}, 'releases[1]: "version" must be "MAJOR.MINOR"'),
        ({"releases": [entry(167)]}, '"version" must be "MAJOR.MINOR"'),
        ({"releases": [{"released": "2026-08"}]}, '"version" must be "MAJOR.MINOR"'),
        ({"releases": [entry(released="2026-13")]}, '"released" must be "YYYY-MM"'),
        ({"releases": [entry(released="0000-01")]}, '"released" must be "YYYY-MM"'),
        ({"releases": [entry(released="Aug 2026")]}, '"released" must be "YYYY-MM"'),
        ({"releases": [entry(released="2026-08-01")]}, '"released" must be "YYYY-MM"'),
        ({"releases": [entry(), entry()]}, "release 1.67 is listed twice"),
        (
            {"releases": [entry("1.66", "2026-09"), entry("1.67", "2026-08")]},
            "release 1.67 (2026-08) is dated before the older 1.66 (2026-09)",
        ),
    ],
)
def test_malformed_documents_name_origin_and_problem(tmp_path: Path, document: Any, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CatalogueError) as raised:
        ReleaseCatalogue.load(str(path))
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)
    assert raised.value.origin == str(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"releases": [', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe not utf-8", "not UTF-8 text"),
    ],
)
def test_unreadable_files_name_the_file_and_the_problem(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(CatalogueError, match=problem) as raised:
        ReleaseCatalogue.load(str(path))
    assert str(path) in str(raised.value)


def test_a_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(CatalogueError, match="cannot read the file") as raised:
        ReleaseCatalogue.load(str(path))
    assert str(path) in str(raised.value)


def test_catalogue_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="^release catalogue: "):
        ReleaseCatalogue.from_json({"releases": []})
