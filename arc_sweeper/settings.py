"""Every setting of the sweeper, read from app settings (environment variables) in one place.

All settings are checked together and every problem is reported at once, so one failed
deployment shows everything to fix. Secret values (the Logic App webhook URL with its `sig=`
signature, the storage connection string) never appear in messages or in `repr`.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from azure.data.tables import TableServiceClient

from arc_sweeper.catalogue import CatalogueError, ReleaseCatalogue
from arc_sweeper.durations import format_duration, parse_duration
from arc_sweeper.endpoints import is_loopback_url
from arc_sweeper.text import GUID, redact_url
from arc_sweeper.findings import ClassificationPolicy
from arc_sweeper.rings import RingPolicy
from arc_sweeper.versions import Release, parse_release

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
MIN_POLL_INTERVAL = timedelta(minutes=15)
"""Resource Graph re-reads the cohort each poll; more often than this spends quota for nothing
(the agents check once a day). Shorter only against a loopback endpoint, for tests."""


class SettingsError(ValueError):
    """One or more settings are invalid; `problems` has one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} invalid app setting(s):\n{listing}")


@dataclass(frozen=True)
class Settings:
    """The parsed settings; see SETTINGS_TABLE for what each one means."""

    sweep_schedule: str
    subscription_allow_list: tuple[str, ...]
    subscription_deny_list: tuple[str, ...]
    exclusion_tag: tuple[str, str] | None
    minimum_auto_upgrade_version: Release
    support_window_months: int
    arm_endpoint: str
    hybridcompute_api_version: str
    allow_unlisted_api_version: bool
    dry_run: bool
    public_cloud_only: bool
    follow_up_window: timedelta
    poll_interval: timedelta
    stuck_after: timedelta
    table_prefix: str
    webhook_url: str = field(repr=False)
    max_parallel_writes_per_subscription: int
    releases: ReleaseSource = field(repr=False)
    resource_graph_batch_size: int
    enable_batch_size: int
    history_retention: timedelta
    enable_time_budget: timedelta
    max_retry_wait: timedelta
    enabling_lease: timedelta
    ring_tag: str
    ring_subscriptions: dict[str, int]
    ring_soak: timedelta
    ring_min_success: float
    ring_max_failure: float
    ring_min_sample: int
    storage_connection: str = field(repr=False)

    @property
    def ring_policy(self) -> RingPolicy | None:
        """The staged rollout's rules, or None when no rings are configured (one ring, always open)."""
        if not self.ring_tag and not self.ring_subscriptions:
            return None
        return RingPolicy(self.ring_tag, self.ring_subscriptions, self.ring_soak, self.ring_min_success,
                          self.ring_max_failure, self.ring_min_sample)

    @property
    def redacted_webhook_url(self) -> str:
        """Scheme and host only, safe for logs; empty when alerts are off."""
        return redact_url(self.webhook_url) if self.webhook_url else ""

    def classification_policy(self, sweep_date: date, catalogue: ReleaseCatalogue) -> ClassificationPolicy:
        """The classification rules these settings describe, for a sweep on `sweep_date` by `catalogue`
        (the run's: the configured one plus the releases the estate has shown)."""
        return ClassificationPolicy(
            sweep_date=sweep_date,
            catalogue=catalogue,
            minimum_auto_upgrade_version=self.minimum_auto_upgrade_version,
            support_window_months=self.support_window_months,
            exclusion_tag=self.exclusion_tag,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read and check every setting; raises SettingsError listing every problem found.

        An unset setting takes its default. A blank one does too, except where blank has a
        meaning of its own (EXCLUSION_TAG, the subscription lists, the webhook URL and
        AGENT_RELEASES_FILE), where blank means "none".
        """
        values: dict[str, Any] = {}
        problems: list[str] = []
        for setting in _SETTINGS:
            raw = env.get(setting.name)
            if raw is None or (not raw.strip() and setting.blank_means_default):
                text = setting.default
            else:
                text = raw.strip()
            try:
                values[setting.attribute] = setting.parse(text)
            except ValueError as error:
                shown = setting.show(raw if raw is not None else setting.default)
                problems.append(f"{setting.name}={shown}: {error}")
        problems.extend(_check_together(values))
        if problems:
            raise SettingsError(problems)
        return cls(**values)


# --- Checks of single settings: each returns the parsed value or raises ValueError. ---

_NCRONTAB_FIELDS = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_CRON_ITEM = re.compile(
    r"(?:\*|(?P<first>[0-9]+|[A-Za-z]{3})(?:-(?P<last>[0-9]+|[A-Za-z]{3}))?)(?:/(?P<step>[0-9]+))?"
)


def parse_ncrontab(text: str) -> str:
    """Check a 6-field NCRONTAB expression (what the Functions timer trigger takes); returns it tidied."""
    fields = text.split()
    if len(fields) != len(_NCRONTAB_FIELDS):
        raise ValueError(
            f"expected 6 NCRONTAB fields (second minute hour day month day-of-week), got {len(fields)}"
        )
    for value, (field_name, low, high, names) in zip(fields, _NCRONTAB_FIELDS):
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


def _parse_subscriptions(text: str) -> tuple[str, ...]:
    entries = [entry for entry in re.split(r"[,;\s]+", text) if entry]
    bad = [entry for entry in entries if not GUID.fullmatch(entry)]
    if bad:
        raise ValueError(
            f"not subscription GUIDs: {', '.join(map(repr, bad))}; expected GUIDs like"
            " 00000000-0000-0000-0000-000000000000 separated by commas, semicolons or spaces"
        )
    return tuple(dict.fromkeys(entry.lower() for entry in entries))


_FORBIDDEN_IN_TAG_NAMES = set('<>%&\\?/')


def _parse_exclusion_tag(text: str) -> tuple[str, str] | None:
    if not text:
        return None
    name, equals, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not equals or not name or not value:
        raise ValueError("expected name=value, such as arc-sweeper=exclude, or blank for no exclusion tag")
    if _FORBIDDEN_IN_TAG_NAMES & set(name):
        raise ValueError("Azure tag names cannot contain any of < > % & \\ ? /")
    return (name, value)


def _parse_minimum_version(text: str) -> Release:
    release = parse_release(text)
    if release is None:
        raise ValueError("expected MAJOR.MINOR, such as 1.57")
    return release


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return int(text)

    return parse


def _parse_arm_endpoint(text: str) -> str:
    parts = _split_service_url(text)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("expected only scheme, host and port, such as https://management.azure.com")
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _parse_webhook_url(text: str) -> str:
    if text:
        _split_service_url(text)
    return text


def _split_service_url(text: str) -> SplitResult:
    """Check an absolute https URL (http only on loopback, for the local stack); messages never echo it."""
    try:
        parts = urlsplit(text)
        parts.port  # raises ValueError for a port that is not a number
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


def _parse_api_version(text: str) -> str:
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


def follow_up_timing_problems(window: timedelta, interval: timedelta | None, *, loopback: bool,
                              names: tuple[str, str] = ("FOLLOW_UP_WINDOW", "POLL_INTERVAL")) -> list[str]:
    """The bounds on following a cohort, shared by the settings and the HTTP API (which names them its way).

    Without an interval (an HTTP request that gives only a window) only the window is checked:
    the default interval is then capped at the window.
    """
    window_name, interval_name = names
    problems = []
    if window > MAX_FOLLOW_UP_WINDOW:
        problems.append(f"{window_name}={format_duration(window)}: must be at most {format_duration(MAX_FOLLOW_UP_WINDOW)}")
    if interval is None:
        return problems
    if interval > MAX_POLL_INTERVAL:
        problems.append(f"{interval_name}={format_duration(interval)}: must be at most {format_duration(MAX_POLL_INTERVAL)},"
                        " the longest single durable timer")
    if interval < MIN_POLL_INTERVAL and not loopback:
        problems.append(f"{interval_name}={format_duration(interval)}: must be at least {format_duration(MIN_POLL_INTERVAL)}"
                        " (shorter only against a loopback ARM_ENDPOINT)")
    if interval >= window:
        problems.append(f"{interval_name}={format_duration(interval)}: must be shorter than"
                        f" {window_name}={format_duration(window)}, or the upgrade is never checked")
    return problems


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _parse_bool(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError("expected true or false (also 1/0, yes/no)")


def _parse_retention(text: str) -> timedelta:
    retention = parse_duration(text)
    if retention < timedelta(days=1):
        raise ValueError("must be at least one day (P1D): a run can follow its machines for days")
    return retention


def _share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        raise ValueError("expected a share from 0 to 1, such as 0.9") from None
    if not 0.0 <= share <= 1.0:
        raise ValueError("expected a share from 0 to 1, such as 0.9")
    return share


def _parse_ring_tag(text: str) -> str:
    if _FORBIDDEN_IN_TAG_NAMES & set(text):
        raise ValueError("Azure tag names cannot contain any of < > % & \\ ? /")
    return text


def _parse_ring_subscriptions(text: str) -> dict[str, int]:
    """`0=GUID,GUID;1=GUID`: ring numbers to subscriptions, each subscription in one ring."""
    rings: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        ring, equals, subscriptions = part.partition("=")
        if not equals or not ring.strip().isdigit():
            raise ValueError("expected ring=GUID,GUID;ring=GUID with whole ring numbers, such as 0=<GUID>;1=<GUID>")
        for subscription in _parse_subscriptions(subscriptions):
            if subscription in rings:
                raise ValueError(f"subscription {subscription} is in more than one ring")
            rings[subscription] = int(ring)
    return rings


def _duration_between(low: timedelta, high: timedelta) -> Callable[[str], timedelta]:
    def parse(text: str) -> timedelta:
        duration = parse_duration(text)
        if not low <= duration <= high:
            raise ValueError(f"must be from {format_duration(low)} to {format_duration(high)}")
        return duration

    return parse


def _parse_poll_interval(text: str) -> timedelta:
    interval = parse_duration(text)
    if interval > MAX_POLL_INTERVAL:
        raise ValueError(f"must be at most {format_duration(MAX_POLL_INTERVAL)}, the longest single durable timer")
    return interval


def _parse_table_prefix(text: str) -> str:
    longest = MAX_TABLE_NAME - len(LONGEST_TABLE_SUFFIX)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", text) or len(text) > longest:
        raise ValueError(
            f"expected letters and digits starting with a letter, at most {longest} characters"
            f" (so that prefix + {LONGEST_TABLE_SUFFIX!r} fits in an Azure table name)"
        )
    return text


def _parse_storage_connection(text: str) -> str:
    """A connection string azure-data-tables can use, or blank (identity-based settings in Azure)."""
    if text:
        try:
            TableServiceClient.from_connection_string(text)
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ValueError("not a storage connection string (expected UseDevelopmentStorage=true or"
                             " DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...)") from None
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


def _release_source(text: str) -> ReleaseSource:
    if text.lower().startswith(("https://", "http://")):
        _split_service_url(text)
        return ReleaseSource(ReleaseCatalogue.load(), text)
    try:
        return ReleaseSource(ReleaseCatalogue.load(text or None))
    except CatalogueError as error:
        raise ValueError(error.problem) from None


def _check_together(values: Mapping[str, Any]) -> list[str]:
    """Rules between settings, checked only when each setting on its own was valid."""
    problems = []
    window, interval, endpoint = values.get("follow_up_window"), values.get("poll_interval"), values.get("arm_endpoint")
    if window is not None and interval is not None and endpoint is not None:
        problems += follow_up_timing_problems(window, interval, loopback=is_loopback_url(endpoint))
    version, unlisted = values.get("hybridcompute_api_version"), values.get("allow_unlisted_api_version")
    if version is not None and unlisted is not True and version not in KNOWN_API_VERSIONS:
        problems.append(f"HYBRIDCOMPUTE_API_VERSION={version!r}: not one of the known GA versions"
                        f" ({', '.join(KNOWN_API_VERSIONS)}); set ALLOW_UNLISTED_API_VERSION=true to use it anyway")
    return problems


# --- The table of settings: name, default, meaning, and how each is read. ---


@dataclass(frozen=True)
class _Setting:
    name: str
    default: str
    meaning: str
    attribute: str
    parse: Callable[[str], Any]
    show: Callable[[str], str] = repr
    blank_means_default: bool = True


_SETTINGS: tuple[_Setting, ...] = (
    _Setting(
        "SWEEP_SCHEDULE", "0 30 3 * * *",
        "When the sweep runs: 6-field NCRONTAB (second minute hour day month day-of-week), UTC. The"
        " timer trigger reads it as %SWEEP_SCHEDULE%. The default runs after the agents' daily"
        " upgrade check (about 01:10-01:30 local time).",
        "sweep_schedule", parse_ncrontab,
    ),
    _Setting(
        "SUBSCRIPTION_ALLOW_LIST", "",
        "Subscription GUIDs to sweep, separated by commas, semicolons or spaces; blank means every"
        " Enabled subscription the identity can see.",
        "subscription_allow_list", _parse_subscriptions, blank_means_default=False,
    ),
    _Setting(
        "SUBSCRIPTION_DENY_LIST", "",
        "Subscription GUIDs never to sweep (same format); blank means none.",
        "subscription_deny_list", _parse_subscriptions, blank_means_default=False,
    ),
    _Setting(
        "EXCLUSION_TAG", "arc-sweeper=exclude",
        "Tag name=value: machines carrying it are reported but never changed. Name and value both compare"
        " case-insensitively and ignoring surrounding spaces (Exclude, exclude and ' exclude ' all"
        " exclude). Blank disables exclusion.",
        "exclusion_tag", _parse_exclusion_tag, blank_means_default=False,
    ),
    _Setting(
        "MIN_AUTO_UPGRADE_VERSION", "1.57",
        "Oldest agent release (MAJOR.MINOR) that can upgrade itself; older agents are reported for"
        " manual upgrade instead.",
        "minimum_auto_upgrade_version", _parse_minimum_version,
    ),
    _Setting(
        "SUPPORT_WINDOW_MONTHS", "12",
        "Agent releases older than this many months are reported out of support (1-120).",
        "support_window_months", _whole_number(1, 120),
    ),
    _Setting(
        "ARM_ENDPOINT", "https://management.azure.com",
        "Azure Resource Manager endpoint: https URL without path (http only for a loopback host).",
        "arm_endpoint", _parse_arm_endpoint,
    ),
    _Setting(
        "HYBRIDCOMPUTE_API_VERSION", "2025-01-13",
        "api-version for Microsoft.HybridCompute calls: one of the GA versions 2022-12-27, 2024-07-10,"
        " 2025-01-13, 2026-07-15 (any other YYYY-MM-DD[-preview] from 2022-12-27 on only with"
        " ALLOW_UNLISTED_API_VERSION=true).",
        "hybridcompute_api_version", _parse_api_version,
    ),
    _Setting(
        "ALLOW_UNLISTED_API_VERSION", "false",
        "true: accept a HYBRIDCOMPUTE_API_VERSION that is not in the known GA list (a newer GA version, or a"
        " preview), with a warning in the logs at start-up.",
        "allow_unlisted_api_version", _parse_bool,
    ),
    _Setting(
        "DRY_RUN", "false",
        "true: classify and report, but never PATCH a machine (true/false, 1/0, yes/no).",
        "dry_run", _parse_bool,
    ),
    _Setting(
        "PUBLIC_CLOUD_ONLY", "true",
        "Automatic agent upgrade is documented as available only in the Azure public cloud. true: against"
        " any other ARM_ENDPOINT (a sovereign cloud) a sweep reports but sends no PATCH, as in a dry run."
        " Set false if your cloud offers it. Loopback endpoints (the simulator) count as public.",
        "public_cloud_only", _parse_bool,
    ),
    _Setting(
        "FOLLOW_UP_WINDOW", "P7D",
        "How long to follow a machine after enabling automatic upgrade (ISO 8601 or 7d-style duration),"
        " at most P30D.",
        "follow_up_window", _duration_between(timedelta(seconds=1), MAX_FOLLOW_UP_WINDOW),
    ),
    _Setting(
        "POLL_INTERVAL", "PT12H",
        "How often a followed machine is checked: from PT15M (shorter only against a loopback ARM_ENDPOINT) to"
        " P6D, and shorter than FOLLOW_UP_WINDOW.",
        "poll_interval", _parse_poll_interval,
    ),
    _Setting(
        "STUCK_AFTER", "P3D",
        "An upgrade that has been failing for longer than this is reported as stuck.",
        "stuck_after", parse_duration,
    ),
    _Setting(
        "TABLE_PREFIX", "arcsweep",
        "Prefix of the sweeper's Azure Table names: letters and digits, starting with a letter.",
        "table_prefix", _parse_table_prefix,
    ),
    _Setting(
        "LOGIC_APP_WEBHOOK_URL", "",
        "Secret. Logic App HTTP trigger URL that receives alerts (https; http only for loopback);"
        " blank skips alerts.",
        "webhook_url", _parse_webhook_url, show=redact_url, blank_means_default=False,
    ),
    _Setting(
        "MAX_PARALLEL_WRITES_PER_SUBSCRIPTION", "4",
        "Most PATCH calls in flight at once in one subscription (1-50), to stay under ARM throttling.",
        "max_parallel_writes_per_subscription", _whole_number(1, 50),
    ),
    _Setting(
        "AGENT_RELEASES_FILE", "",
        "Release catalogue replacing the bundled one: a JSON file path (checked at start-up), or an https URL"
        " of such a file (e.g. a blob you keep current; a SAS token in it is kept secret), fetched once per run"
        " with a timeout; if the fetch or its check fails the run uses the bundled one and says so. Blank: the"
        " bundled one. Releases the estate runs that the catalogue lacks are learned either way.",
        "releases", _release_source, show=lambda text: redact_url(text) if "://" in text else repr(text),
        blank_means_default=False,
    ),
    _Setting(
        "RESOURCE_GRAPH_BATCH_SIZE", "200",
        "Subscriptions per Resource Graph request (1-299; Microsoft advises fewer than 300).",
        "resource_graph_batch_size", _whole_number(1, 299),
    ),
    _Setting(
        "ENABLE_BATCH_SIZE", "100",
        "Machines per enabling activity (1-500).",
        "enable_batch_size", _whole_number(1, 500),
    ),
    _Setting(
        "HISTORY_RETENTION", "P30D",
        "Finished Durable Functions instances older than this are purged from the task hub by the daily"
        " timer, so it does not grow without bound (the sweeper's own tables are kept).",
        "history_retention", _parse_retention,
    ),
    _Setting(
        "ENABLE_TIME_BUDGET", "PT10M",
        "Longest time one enabling activity keeps starting PATCHes (PT1M-PT20M); the rest of its chunk"
        " continues in a new call. Keeps every activity well inside host.json's functionTimeout (30"
        " minutes), past which the Python worker is restarted and everything in flight is lost.",
        "enable_time_budget", _duration_between(timedelta(minutes=1), timedelta(minutes=20)),
    ),
    _Setting(
        "MAX_RETRY_WAIT", "PT2M",
        "Longest Retry-After, ARM write-budget pause or Resource Graph quota reset the sweeper waits for"
        " (PT1S-PT15M); a longer one fails that call, which is recorded and reported.",
        "max_retry_wait", _duration_between(timedelta(seconds=1), timedelta(minutes=15)),
    ),
    _Setting(
        "ENABLING_LEASE", "PT6H",
        "How long a sweep holds the lease on its scope while it enables (PT10M-P1D): an overlapping"
        " sweep is refused meanwhile. A finished sweep releases it at once; a crashed one frees it"
        " when its orchestration is no longer running or the lease runs out.",
        "enabling_lease", _duration_between(timedelta(minutes=10), timedelta(days=1)),
    ),
    _Setting(
        "RING_TAG", "",
        "Staged rollout: the tag whose whole-number value (0, 1, 2, ...) is a machine's ring (name compared"
        " case-insensitively). Blank, with RING_SUBSCRIPTIONS blank too: no rings, every machine enabled at once.",
        "ring_tag", _parse_ring_tag, blank_means_default=False,
    ),
    _Setting(
        "RING_SUBSCRIPTIONS", "",
        "Staged rollout by subscription, for machines without the ring tag: ring=GUID,GUID;ring=GUID. A machine"
        " with neither falls in the last ring.",
        "ring_subscriptions", _parse_ring_subscriptions, blank_means_default=False,
    ),
    _Setting(
        "RING_SOAK", "P3D",
        "How long a ring is followed after it opens before the next ring may open (PT1H-P30D).",
        "ring_soak", _duration_between(timedelta(hours=1), MAX_FOLLOW_UP_WINDOW),
    ),
    _Setting(
        "RING_MIN_SUCCESS", "0.9",
        "The next ring opens only if at least this share of the ring's settled machines upgraded (0-1).",
        "ring_min_success", _share,
    ),
    _Setting(
        "RING_MAX_FAILURE", "0.05",
        "... and at most this share failed or got stuck (0-1).",
        "ring_max_failure", _share,
    ),
    _Setting(
        "RING_MIN_SAMPLE", "5",
        "... and at least this many of its machines settled (1-10000); a smaller ring is judged on its own"
        " numbers once every machine it enabled settled.",
        "ring_min_sample", _whole_number(1, 10000),
    ),
    _Setting(
        "AzureWebJobsStorage", "",
        "Secret. Storage connection string of the Functions host, also used for the sweeper's tables "
        "(locally UseDevelopmentStorage=true). In Azure leave it unset: the deployment sets identity-based "
        "AzureWebJobsStorage__tableServiceUri and friends, which take precedence.",
        "storage_connection", _parse_storage_connection, show=lambda _: "(hidden)",
    ),
)

SETTINGS_TABLE: list[tuple[str, str, str]] = [
    (setting.name, setting.default, setting.meaning) for setting in _SETTINGS
]
"""(name, default, meaning) of every setting, in the order the README lists them."""
