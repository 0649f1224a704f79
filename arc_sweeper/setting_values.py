"""How each setting's text is read and checked: one function per kind of value.

Each takes the raw text of an app setting and returns the typed value, or raises ValueError
with what is expected (arc_sweeper.settings adds the setting's name and never shows a secret).
Kept apart from the table of settings so each can be read on its own.

Longer than most modules because it holds every kind of value (durations, NCRONTAB,
shares, URLs, catalogues, ring maps); each function is short and stands alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import SplitResult, urlsplit, urlunsplit

from azure.data.tables import TableServiceClient

from arc_sweeper.catalogue import CatalogueError, ReleaseCatalogue
from arc_sweeper.durations import format_duration, parse_duration
from arc_sweeper.endpoints import is_loopback_url
from arc_sweeper.extensions import SupportedExtensions, SupportedExtensionsError
from arc_sweeper.text import GUID
from arc_sweeper.versions import Release, parse_release
from arc_sweeper.vocabulary import ExtensionMode

LONGEST_TABLE_SUFFIX = "subscriptions"
"""Table names are TABLE_PREFIX + a suffix; Azure allows at most 63 characters."""
MAX_TABLE_NAME = 63
MAX_POLL_INTERVAL = timedelta(days=6)
"""The longest durable timer the Azure Storage provider takes in one piece."""
FIRST_API_VERSION_WITH_AGENT_UPGRADE = date(2022, 12, 27)
KNOWN_API_VERSIONS = ("2022-12-27", "2024-07-10", "2025-01-13", "2026-07-15")
"""The GA api-versions of Microsoft.HybridCompute that carry agentUpgrade (reference §2). Others,
previews included, only with ALLOW_UNLISTED_API_VERSION=true: ARM would refuse an unknown one
only after the first PATCH of a run, and a preview may change shape."""
MAX_FOLLOW_UP_WINDOW = timedelta(days=30)
DEFAULT_RESOURCE_GRAPH_BATCH_SIZE = 50
"""Subscriptions per discovery batch. A batch's machines and extensions are held until written, so
this bounds a discovery activity's memory: 200 subscriptions of 100 machines peaked at 337 MB (too
much for Flex Consumption's 512 MB instance size), 50 at 190 MB, for about one more Resource Graph
request per extra batch."""
MIN_POLL_INTERVAL = timedelta(minutes=15)
"""Resource Graph re-reads the cohort each poll; more often than this spends quota for nothing
(the agents check once a day). Shorter only against a loopback endpoint, for tests."""


_NCRONTAB_FIELDS = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_CRON_ITEM = re.compile(r"(?:\*|(?P<first>[0-9]+|[A-Za-z]{3})(?:-(?P<last>[0-9]+|[A-Za-z]{3}))?)(?:/(?P<step>[0-9]+))?")


def parse_ncrontab(text: str) -> str:
    """Check a 6-field NCRONTAB expression (what the Functions timer trigger takes); returns it tidied."""
    fields = text.split()
    if len(fields) != len(_NCRONTAB_FIELDS):
        raise ValueError(f"expected 6 NCRONTAB fields (second minute hour day month day-of-week), got {len(fields)}")
    for value, (field_name, low, high, names) in zip(fields, _NCRONTAB_FIELDS, strict=True):
        for item in value.split(","):
            _check_cron_item(item, field_name, low, high, names)
    return " ".join(fields)


def _check_cron_item(item: str, field_name: str, low: int, high: int, names: tuple[str, ...]) -> None:
    """One comma-separated item of one field: `*`, `5`, `MON`, `1-5`, `MON-FRI`, `*/15`, `0-30/10`."""
    spelled = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
    problem = f"{field_name} field {item!r}: expected *, a number {spelled}, a range a-b, a list a,b or a step */n"
    match = _CRON_ITEM.fullmatch(item)
    if match is None:
        raise ValueError(problem)

    def value_of(token: str) -> int:
        if token.upper() in names:
            return low + names.index(token.upper())
        if not token.isdigit() or not low <= int(token) <= high:
            raise ValueError(problem)
        return int(token)

    if match["first"] is not None:
        first = value_of(match["first"])
        if match["last"] is not None and value_of(match["last"]) < first:
            raise ValueError(f"{field_name} field {item!r}: a range must go from low to high")
    if match["step"] is not None and not 1 <= int(match["step"]) <= high:
        raise ValueError(f"{field_name} field {item!r}: the step must be from 1 to {high}")


def parse_subscriptions(text: str) -> tuple[str, ...]:
    entries = [entry for entry in re.split(r"[,;\s]+", text) if entry]
    bad = [entry for entry in entries if not GUID.fullmatch(entry)]
    if bad:
        raise ValueError(
            f"not subscription GUIDs: {', '.join(map(repr, bad))}; expected GUIDs like"
            " 00000000-0000-0000-0000-000000000000 separated by commas, semicolons or spaces"
        )
    return tuple(dict.fromkeys(entry.lower() for entry in entries))


_FORBIDDEN_IN_TAG_NAMES = set("<>%&\\?/")


def parse_exclusion_tag(text: str) -> tuple[str, str] | None:
    if not text:
        return None
    name, equals, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not equals or not name or not value:
        raise ValueError("expected name=value, such as arc-sweeper=exclude, or blank for no exclusion tag")
    if _FORBIDDEN_IN_TAG_NAMES & set(name):
        raise ValueError("Azure tag names cannot contain any of < > % & \\ ? /")
    return (name, value)


def parse_minimum_version(text: str) -> Release:
    release = parse_release(text)
    if release is None:
        raise ValueError("expected MAJOR.MINOR, such as 1.57")
    return release


def whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return int(text)

    return parse


def parse_arm_endpoint(text: str) -> str:
    parts = split_service_url(text)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("expected only scheme, host and port, such as https://management.azure.com")
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def parse_webhook_url(text: str) -> str:
    if text:
        split_service_url(text)
    return text


def split_service_url(text: str) -> SplitResult:
    """Check an absolute https URL (http only on loopback, for the local stack); messages never echo it."""
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("not a valid URL") from None
    if any(character.isspace() for character in text):
        raise ValueError("a URL cannot contain spaces")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("expected an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("a user name or password in the URL is not supported")
    if parts.scheme == "http" and not is_loopback_url(text):
        raise ValueError("http is allowed only for a loopback host (localhost, 127.0.0.0/8, ::1); use https")
    return parts


_API_VERSION = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})(?:-preview)?")


def parse_api_version(text: str) -> str:
    expected = "expected YYYY-MM-DD or YYYY-MM-DD-preview"
    match = _API_VERSION.fullmatch(text)
    if match is None:
        raise ValueError(expected)
    try:
        published = date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        raise ValueError(f"{expected}, with a real date") from None
    if published < FIRST_API_VERSION_WITH_AGENT_UPGRADE:
        raise ValueError(
            f"must be {FIRST_API_VERSION_WITH_AGENT_UPGRADE.isoformat()} or later:"
            " earlier api-versions have no agentUpgrade property"
        )
    return text


def follow_up_timing_problems(
    window: timedelta,
    interval: timedelta | None,
    *,
    loopback: bool,
    names: tuple[str, str] = ("FOLLOW_UP_WINDOW", "POLL_INTERVAL"),
) -> list[str]:
    """The bounds on following a cohort, shared by the settings and the HTTP API (which names them its way).

    Without an interval (an HTTP request that gives only a window) only the window is checked:
    the default interval is then capped at the window.
    """
    window_name, interval_name = names
    problems = []
    if window > MAX_FOLLOW_UP_WINDOW:
        problems.append(
            f"{window_name}={format_duration(window)}: must be at most {format_duration(MAX_FOLLOW_UP_WINDOW)}"
        )
    if interval is None:
        return problems
    if interval > MAX_POLL_INTERVAL:
        problems.append(
            f"{interval_name}={format_duration(interval)}: "
            f"must be at most {format_duration(MAX_POLL_INTERVAL)},"
            " the longest single durable timer"
        )
    if interval < MIN_POLL_INTERVAL and not loopback:
        problems.append(
            f"{interval_name}={format_duration(interval)}: "
            f"must be at least {format_duration(MIN_POLL_INTERVAL)}"
            " (shorter only against a loopback ARM_ENDPOINT)"
        )
    if interval >= window:
        problems.append(
            f"{interval_name}={format_duration(interval)}: must be shorter than"
            f" {window_name}={format_duration(window)}, or the upgrade is never checked"
        )
    return problems


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def parse_bool(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError("expected true or false (also 1/0, yes/no)")


def parse_retention(text: str) -> timedelta:
    retention = parse_duration(text)
    if retention < timedelta(days=1):
        raise ValueError("must be at least one day (P1D): a run can follow its machines for days")
    return retention


def parse_extension_mode(text: str) -> ExtensionMode:
    try:
        return ExtensionMode(text.strip().lower())
    except ValueError:
        raise ValueError(f"expected one of {', '.join(ExtensionMode)}") from None


def parse_extension_deny_list(text: str) -> frozenset[str]:
    """Extension types never to change: `type` or `publisher.type`, separated by commas, semicolons or spaces."""
    entries = [entry for entry in re.split(r"[,;\s]+", text) if entry]
    odd = [entry for entry in entries if not re.fullmatch(r"[A-Za-z0-9_.-]+", entry)]
    if odd:
        raise ValueError(f"not extension types (type or publisher.type): {', '.join(repr(e) for e in odd)}")
    return frozenset(entry.lower() for entry in entries)


def load_supported_extensions(path: str) -> SupportedExtensions:
    try:
        return SupportedExtensions.load(path or None)
    except SupportedExtensionsError as error:
        raise ValueError(error.problem) from None


def parse_share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        raise ValueError("expected a share from 0 to 1, such as 0.9") from None
    if not 0.0 <= share <= 1.0:
        raise ValueError("expected a share from 0 to 1, such as 0.9")
    return share


def parse_ring_tag(text: str) -> str:
    if _FORBIDDEN_IN_TAG_NAMES & set(text):
        raise ValueError("Azure tag names cannot contain any of < > % & \\ ? /")
    return text


def parse_ring_subscriptions(text: str) -> dict[str, int]:
    """`0=GUID,GUID;1=GUID`: ring numbers to subscriptions, each subscription in one ring."""
    rings: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        ring, equals, subscriptions = part.partition("=")
        if not equals or not ring.strip().isdigit():
            raise ValueError("expected ring=GUID,GUID;ring=GUID with whole ring numbers, such as 0=<GUID>;1=<GUID>")
        for subscription in parse_subscriptions(subscriptions):
            if subscription in rings:
                raise ValueError(f"subscription {subscription} is in more than one ring")
            rings[subscription] = int(ring)
    return rings


def duration_between(low: timedelta, high: timedelta) -> Callable[[str], timedelta]:
    def parse(text: str) -> timedelta:
        duration = parse_duration(text)
        if not low <= duration <= high:
            raise ValueError(f"must be from {format_duration(low)} to {format_duration(high)}")
        return duration

    return parse


def parse_poll_interval(text: str) -> timedelta:
    interval = parse_duration(text)
    if interval > MAX_POLL_INTERVAL:
        raise ValueError(f"must be at most {format_duration(MAX_POLL_INTERVAL)}, the longest single durable timer")
    return interval


def parse_table_prefix(text: str) -> str:
    longest = MAX_TABLE_NAME - len(LONGEST_TABLE_SUFFIX)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", text) or len(text) > longest:
        raise ValueError(
            f"expected letters and digits starting with a letter, at most {longest} characters"
            f" (so that prefix + {LONGEST_TABLE_SUFFIX!r} fits in an Azure table name)"
        )
    return text


def parse_storage_connection(text: str) -> str:
    """A connection string azure-data-tables can use, or blank (identity-based settings in Azure)."""
    if text:
        try:
            TableServiceClient.from_connection_string(text)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ValueError(
                "not a storage connection string (expected UseDevelopmentStorage=true or"
                " DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...)"
            ) from None
    return text


@dataclass(frozen=True)
class ReleaseSource:
    """Where a run's release catalogue comes from.

    `catalogue` is the bundled one or the file's, read and checked at start-up. With an https
    `url`, each run fetches the catalogue there once; `catalogue` (the bundled one) is the fallback
    when the fetch or its validation fails. The URL may carry a SAS token: it is never shown.
    """

    catalogue: ReleaseCatalogue
    url: str = field(default="", repr=False)


def parse_release_source(text: str) -> ReleaseSource:
    if text.lower().startswith(("https://", "http://")):
        split_service_url(text)
        return ReleaseSource(ReleaseCatalogue.load(), text)
    try:
        return ReleaseSource(ReleaseCatalogue.load(text or None))
    except CatalogueError as error:
        raise ValueError(error.problem) from None
