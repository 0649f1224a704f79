"""The release catalogue a run classifies by, and what the estate teaches it.

At the start of a run, :func:`resolve_catalogue` takes the configured catalogue (the bundled
one, a file, or an https URL fetched once), adds the releases earlier sweeps saw running that it
does not list, and the result is kept on the run row, so every step of the run classifies by the
same table. During discovery :func:`unlisted_releases` finds what the estate runs that the
run's catalogue lacks, to be recorded once with the date it was first seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from arc_sweeper.catalogue import CatalogueError, ReleaseCatalogue, staleness
from arc_sweeper.records import MachineRecord, ObservedRelease, RunRecord
from arc_sweeper.setting_values import ReleaseSource
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.versions import Release, parse_agent_version, parse_release

log = logging.getLogger(__name__)

Fetch = Callable[[str], ReleaseCatalogue]


@dataclass(frozen=True)
class RunCatalogue:
    catalogue: ReleaseCatalogue  # the configured one plus the releases the estate has shown
    base: ReleaseCatalogue  # the configured one: what goes stale
    notice: str = ""  # why the configured URL could not be used


def resolve_catalogue(source: ReleaseSource, observed: Iterable[ObservedRelease], fetch: Fetch) -> RunCatalogue:
    """The run's catalogue; with a notice when the configured URL could not be used."""
    base, notice = source.catalogue, ""
    if source.url:
        try:
            base = fetch(source.url)
        except CatalogueError as error:
            notice = (
                f"release catalogue at {error.origin} could not be used ({error.problem}); this run uses"
                f" the bundled catalogue plus the releases the estate has shown"
            )
            log.warning("%s", notice)
    return RunCatalogue(base.with_observed(first_seen_dates(observed)), base, notice)


def stale_notice(run: RunRecord | None, observed: Iterable[ObservedRelease], on: date) -> str:
    """Whether the configured catalogue is behind (the estate runs a newer release, or its newest is
    more than two months old), from what the run recorded; "" when it is not, or cannot be told."""
    newest = parse_release(run.catalogue_base_newest) if run else None
    if run is None or not run.catalogue or newest is None:
        return ""
    catalogue = catalogue_of(run, ReleaseCatalogue.load())
    base = ReleaseCatalogue(tuple(e for e in catalogue.releases if e.release <= newest), catalogue.origin)
    return staleness(base, max(first_seen_dates(observed), default=None), on)


def first_seen_dates(observed: Iterable[ObservedRelease]) -> dict[Release, date]:
    dates = {}
    for entry in observed:
        release, seen = parse_release(entry.release), parse_timestamp(entry.first_seen_at)
        if release is not None and seen is not None:
            dates[release] = seen.date()
    return dates


def catalogue_of(run: RunRecord | None, fallback: ReleaseCatalogue) -> ReleaseCatalogue:
    """The catalogue kept on the run row (a row written before this column: the configured one)."""
    if run is None or not run.catalogue:
        return fallback
    return ReleaseCatalogue.from_json(
        {"releases": [{"version": v, "released": m} for v, m in run.catalogue.items()]}, run.catalogue_origin
    )


def as_row(catalogue: ReleaseCatalogue) -> dict[str, str]:
    return {entry["version"]: entry["released"] for entry in catalogue.to_json()["releases"]}


def unlisted_releases(
    rows: Iterable[MachineRecord], catalogue: ReleaseCatalogue, on: date, as_of: str
) -> list[ObservedRelease]:
    """Releases the machines run that `catalogue` does not list and that could exist on `on`
    (an agent claiming 1.100 is odd, not a release); the first machine seen names each."""
    listed = {entry.release for entry in catalogue.releases}
    found: dict[Release, MachineRecord] = {}
    for row in sorted(rows, key=lambda r: r.resource_id):
        version = parse_agent_version(row.agent_version_seen)
        if version is not None and version.release not in listed and catalogue.plausible(version.release, on):
            found.setdefault(version.release, row)
    return [
        ObservedRelease(f"{release[0]}.{release[1]}", as_of, row.resource_id, row.run_id)
        for release, row in sorted(found.items())
    ]
