"""Connected Machine agent versions: reading the strings Azure reports, and comparing them.

Azure reports `properties.agentVersion` as free text, usually `MAJOR.MINOR.BUILD.REVISION`
(`1.58.03228.700`), while package managers and release notes spell it other ways
(`1.28.02260-755`, `1.61.03310848`). Versions are compared as numbers, never as text,
because as text "1.9" sorts after "1.10".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

Release = tuple[int, int]
"""A (major, minor) pair: what Microsoft releases and what `azcmagent upgrade --version` takes."""

MAX_PART_DIGITS = 10
"""A part with more significant digits than this is garbage, not a version (leading zeros are free)."""

_AGENT_VERSION = re.compile(
    r"""
    [vV]?
    (?P<major>[0-9]+) \. (?P<minor>[0-9]+)
    (?:
        \. (?P<build>[0-9]+)
        (?:
            \. (?P<revision>[0-9]+)
          | - (?P<package_revision>[0-9]+) $    # yum/zypper: azcmagent-1.28.02260-755
        )?
    )?
    (?P<suffix> [-+~_(\[\s] .* )?               # -beta, +build, " (preview)": ignored
    """,
    re.VERBOSE | re.DOTALL,
)
_RELEASE = re.compile(r"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)")


@total_ordering
@dataclass(frozen=True)
class AgentVersion:
    """A parsed agent version; `build` and `revision` are None when the text did not have them.

    Ordering is by (major, minor), then build, then revision, where a missing part sorts
    below any present one: 1.58 < 1.58.0 < 1.58.0.0 < 1.58.1.
    """

    major: int
    minor: int
    build: int | None = None
    revision: int | None = None

    def __post_init__(self) -> None:
        parts = (self.major, self.minor, self.build, self.revision)
        if any(part is not None and part < 0 for part in parts):
            raise ValueError(f"agent version parts cannot be negative: {parts}")
        if self.build is None and self.revision is not None:
            raise ValueError("an agent version with a revision needs a build")

    @property
    def release(self) -> Release:
        return (self.major, self.minor)

    def _sort_key(self) -> tuple[int, int, int, int]:
        missing = -1
        return (
            self.major,
            self.minor,
            missing if self.build is None else self.build,
            missing if self.revision is None else self.revision,
        )

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, AgentVersion):
            return NotImplemented
        return self._sort_key() < other._sort_key()

    def __str__(self) -> str:
        """Dotted numbers without leading zeros, e.g. `1.58.3228.700`."""
        parts = (self.major, self.minor, self.build, self.revision)
        return ".".join(str(part) for part in parts if part is not None)


def parse_agent_version(raw: str | None) -> AgentVersion | None:
    """Read an agent version as Azure or a package manager writes it; None means unknown.

    Never raises: a machine with an unreadable version is reported, not crashed on.
    Accepted: two to four dot-separated numbers with optional leading zeros, surrounding
    whitespace and a leading `v`; a suffix after the numbers that starts with `-`, `+`, `~`,
    `_`, `(`, `[` or whitespace (`1.62.0-beta` is 1.62.0). The yum/zypper form
    `1.28.02260-755` reads as revision 755: a dash followed only by digits after exactly three
    parts is the package's revision, not a pre-release tag. `1.61.03310848` (a build with the
    revision run into it, as printed in the release notes) reads as build 3310848.
    Rejected: one part only, letters straight after the numbers (`1.62rc1`), five parts,
    signs, and parts with more than MAX_PART_DIGITS digits after their leading zeros.
    """
    if not isinstance(raw, str):
        return None
    match = _AGENT_VERSION.fullmatch(raw.strip())
    if match is None:
        return None
    build, revision = match["build"], match["revision"] or match["package_revision"]
    try:
        return AgentVersion(
            major=_number(match["major"]),
            minor=_number(match["minor"]),
            build=None if build is None else _number(build),
            revision=None if revision is None else _number(revision),
        )
    except ValueError:  # a part too long to be a version number
        return None


def parse_release(raw: str) -> Release | None:
    """Read a strict `MAJOR.MINOR` (settings, catalogue data); None if it is anything else."""
    match = _RELEASE.fullmatch(raw.strip())
    if match is None:
        return None
    try:
        return (_number(match["major"]), _number(match["minor"]))
    except ValueError:
        return None


def _number(digits: str) -> int:
    """A run of ASCII digits as an int; ValueError past MAX_PART_DIGITS significant digits."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > MAX_PART_DIGITS:
        raise ValueError(f"more than {MAX_PART_DIGITS} digits")
    return int(significant)


def format_release(release: Release) -> str:
    """`(1, 57)` -> `"1.57"`."""
    return f"{release[0]}.{release[1]}"
