"""Which Connected Machine agent release shipped in which month, and what that means for support.

Microsoft supports only agent releases of the last year and publishes release months, not
days. A new release ships about monthly, so the table is data (`data/agent_releases.json`),
not code; a deployment can point AGENT_RELEASES_FILE at a newer copy (a file, or an https URL
fetched once per run) without a code change.

A catalogue is a snapshot and the estate runs ahead of it, so a run classifies by the
configured catalogue *plus* the releases the estate has shown that it does not list
(:meth:`ReleaseCatalogue.with_observed`): a release is dated by the catalogue when it knows
it, else by the month it was first seen running (it cannot have shipped later), which leans
toward "supported" as the rest of the rules do, and a year on it falls out of support like
any other. :func:`staleness` says when the catalogue itself needs refreshing.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from arc_sweeper.versions import AgentVersion, Release, format_release, parse_release

BUNDLED_CATALOGUE = "data/agent_releases.json"
"""The catalogue shipped with the package, relative to the `arc_sweeper` package."""

_YEAR_MONTH = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})")


class CatalogueError(ValueError):
    """A release catalogue that cannot be used; the message names its origin and the problem."""

    def __init__(self, origin: str, problem: str) -> None:
        super().__init__(f"{origin}: {problem}")
        self.origin = origin
        self.problem = problem


@dataclass(frozen=True)
class AgentRelease:
    """One major.minor release and the first day of the month it shipped in."""

    release: Release
    month: date


@dataclass(frozen=True)
class ReleaseCatalogue:
    """The known agent releases, oldest first, and where the table came from (for messages)."""

    releases: tuple[AgentRelease, ...]
    origin: str

    def __post_init__(self) -> None:
        if not self.releases:
            raise CatalogueError(self.origin, "the catalogue has no releases")
        versions = [entry.release for entry in self.releases]
        if versions != sorted(set(versions)):
            raise CatalogueError(self.origin, "releases must be unique and sorted oldest first")

    @classmethod
    def load(cls, path: str | None = None) -> ReleaseCatalogue:
        """Read the bundled catalogue, or the JSON file at `path` when one is given."""
        if path is None:
            origin = f"bundled {BUNDLED_CATALOGUE}"
            text = resources.files("arc_sweeper").joinpath(BUNDLED_CATALOGUE).read_text("utf-8")
        else:
            origin = path
            try:
                with open(path, encoding="utf-8") as file:
                    text = file.read()
            except OSError as error:
                raise CatalogueError(origin, f"cannot read the file: {error.strerror or error}") from error
            except UnicodeDecodeError as error:
                raise CatalogueError(origin, f"not UTF-8 text: {error.reason}") from error
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CatalogueError(origin, f"not valid JSON: {error}") from error
        return cls.from_json(data, origin)

    @classmethod
    def from_json(cls, data: Any, origin: str = "release catalogue") -> ReleaseCatalogue:
        """Build from `{"releases": [{"version": "1.67", "released": "2026-08"}, ...]}`.

        Entries may come in any order. Other top-level keys (`source`, `updated`) are notes
        for people. A newer release dated before an older one is rejected as a typo.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("releases"), list):
            raise CatalogueError(origin, 'expected an object with a "releases" list')
        releases = sorted(
            (_read_entry(entry, position, origin) for position, entry in enumerate(data["releases"])),
            key=lambda entry: entry.release,
        )
        for older, newer in itertools.pairwise(releases):
            if older.release == newer.release:
                raise CatalogueError(origin, f"release {format_release(newer.release)} is listed twice")
            if newer.month < older.month:
                raise CatalogueError(
                    origin,
                    f"release {format_release(newer.release)} ({newer.month:%Y-%m}) is dated"
                    f" before the older {format_release(older.release)} ({older.month:%Y-%m})",
                )
        return cls(releases=tuple(releases), origin=origin)

    def to_json(self) -> dict[str, Any]:
        """The JSON form `from_json` reads (kept on the run row, so every step of a run classifies alike)."""
        return {
            "releases": [
                {"version": format_release(e.release), "released": f"{e.month:%Y-%m}"} for e in reversed(self.releases)
            ]
        }

    def with_observed(self, first_seen: Mapping[Release, date]) -> ReleaseCatalogue:
        """This catalogue plus releases newer than its newest that the estate has shown, each dated by
        the month it was first seen (never before the catalogue's newest release month)."""
        newest = self.releases[-1]
        added, floor = [], newest.month
        for release, seen in sorted(first_seen.items()):
            if release > newest.release:
                floor = max(floor, _first_of_month(seen))  # a release cannot have shipped before an older one
                added.append(AgentRelease(release, floor))
        if not added:
            return self
        return ReleaseCatalogue(self.releases + tuple(added), f"{self.origin} + {len(added)} observed")

    def release_month(self, release: Release) -> date | None:
        """First day of the month `release` shipped in; None if the catalogue does not list it."""
        return next((entry.month for entry in self.releases if entry.release == release), None)

    def newest(self) -> Release:
        return self.releases[-1].release

    def is_supported(self, version: AgentVersion, sweep_date: date, window_months: int) -> bool:
        """Whether `version` was released within `window_months` months before `sweep_date`.

        Month granularity, boundary inclusive: released month >= sweep month - window_months,
        so with a 12-month window a sweep in August 2026 still supports August 2025 releases.
        Release days are unknown, and a machine is not called out of support on a guess.
        A release newer than the catalogue's newest is current. A release missing from the
        catalogue takes the month of the next listed release above it: releases ship in
        order, so that is the latest it can have shipped, again leaning toward "supported".
        """
        if version.release > self.newest():
            return True
        released = next(entry.month for entry in self.releases if entry.release >= version.release)
        return _month_index(released) >= _month_index(sweep_date) - window_months

    def latest(self, fleet_versions: Iterable[AgentVersion], on: date) -> Release:
        """The newest release known on `on`: the catalogue's, or a newer one machines already report.

        A reported release counts only if it is plausible (see :meth:`plausible`): one odd agent
        claiming 1.100 must not make every current agent look many releases behind.
        """
        return max([self.newest(), *(v.release for v in fleet_versions if self.plausible(v.release, on))])

    def plausible(self, release: Release, on: date) -> bool:
        """Whether `release` could exist on `on`: Microsoft ships about one release a month, so
        at most one per month since the catalogue's newest, plus one for a month in progress."""
        newest = self.releases[-1]
        if release <= newest.release:
            return True
        months = max(0, _month_index(on) - _month_index(newest.month))
        return release[0] == newest.release[0] and release[1] <= newest.release[1] + months + 1

    def releases_behind(self, version: AgentVersion, latest: Release) -> int:
        """How many releases came out after `version`, up to and including `latest`.

        Counts catalogue releases plus `latest` itself (which may be newer than the
        catalogue); 0 means current, 1 is "within one release", which automatic upgrade
        treats as normal.
        """
        known = {entry.release for entry in self.releases} | {latest}
        return sum(1 for release in known if version.release < release <= latest)


def _read_entry(entry: Any, position: int, origin: str) -> AgentRelease:
    where = f"releases[{position}]"
    if not isinstance(entry, Mapping):
        raise CatalogueError(origin, f'{where}: expected an object like {{"version": "1.67", "released": "2026-08"}}')
    version, released = entry.get("version"), entry.get("released")
    release = parse_release(version) if isinstance(version, str) else None
    if release is None:
        raise CatalogueError(origin, f'{where}: "version" must be "MAJOR.MINOR" such as "1.67", not {version!r}')
    month = _read_month(released)
    if month is None:
        raise CatalogueError(origin, f'{where}: "released" must be "YYYY-MM" such as "2026-08", not {released!r}')
    return AgentRelease(release=release, month=month)


def _read_month(text: Any) -> date | None:
    match = _YEAR_MONTH.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    try:
        return date(int(match["year"]), int(match["month"]), 1)
    except ValueError:  # month 13, year 0000
        return None


def staleness(catalogue: ReleaseCatalogue, newest_seen: Release | None, on: date, max_age_months: int = 2) -> str:
    """Why `catalogue` is behind, or "": the estate runs a newer release, or its newest release is
    more than `max_age_months` older than `on` (Microsoft ships about one a month)."""
    newest = catalogue.releases[-1]
    reasons = []
    if newest_seen is not None and newest_seen > newest.release:
        reasons.append(
            f"the estate runs agent {format_release(newest_seen)}, newer than the catalogue's newest"
            f" {format_release(newest.release)}"
        )
    age = _month_index(on) - _month_index(newest.month)
    if age > max_age_months:
        reasons.append(
            f"the catalogue's newest release, {format_release(newest.release)} ({newest.month:%Y-%m}),"
            f" is {age} months old on {on:%Y-%m-%d}"
        )
    if not reasons:
        return ""
    return (
        "release catalogue is stale: "
        + "; ".join(reasons)
        + ". Update AGENT_RELEASES_FILE (or the bundled data/agent_releases.json) from the agent release notes."
    )


def _first_of_month(day: date) -> date:
    return date(day.year, day.month, 1)


def _month_index(day: date) -> int:
    """Months since year 0, so that month arithmetic is plain subtraction."""
    return day.year * 12 + day.month - 1
