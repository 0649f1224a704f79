"""Every setting of the sweeper, read from app settings (environment variables) in one place.

All settings are checked together and every problem is reported at once, so one failed
deployment shows everything to fix. The table below says what each setting means (the README's
settings table is generated from it); arc_sweeper.setting_values reads each kind of value.
Secret values (the Logic App webhook URL with its `sig=` signature, the storage connection string)
never appear in messages or in `repr`.

Longer than most modules because the table of 34 settings, each with its meaning, is the
point: one place to read what can be set.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import arc_sweeper.setting_values as read
from arc_sweeper.catalogue import ReleaseCatalogue
from arc_sweeper.durations import parse_duration
from arc_sweeper.endpoints import is_loopback_url
from arc_sweeper.extensions import ExtensionPolicy, SupportedExtensions
from arc_sweeper.findings import ClassificationPolicy
from arc_sweeper.rings import RingPolicy
from arc_sweeper.setting_values import DEFAULT_RESOURCE_GRAPH_BATCH_SIZE, KNOWN_API_VERSIONS, MAX_FOLLOW_UP_WINDOW
from arc_sweeper.text import redact_url
from arc_sweeper.versions import Release
from arc_sweeper.vocabulary import ExtensionMode


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
    releases: read.ReleaseSource = field(repr=False)
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
    extension_upgrade_mode: ExtensionMode
    extension_deny_list: frozenset[str]
    supported_extensions: SupportedExtensions = field(repr=False)
    storage_connection: str = field(repr=False)

    @property
    def extension_policy(self) -> ExtensionPolicy | None:
        """How the sweep treats machine extensions; None when EXTENSION_UPGRADE_MODE is off."""
        if self.extension_upgrade_mode == ExtensionMode.OFF:
            return None
        return ExtensionPolicy(self.extension_upgrade_mode, self.supported_extensions, self.extension_deny_list)

    @property
    def ring_policy(self) -> RingPolicy | None:
        """The staged rollout's rules, or None when no rings are configured (one ring, always open)."""
        if not self.ring_tag and not self.ring_subscriptions:
            return None
        return RingPolicy(
            self.ring_tag,
            self.ring_subscriptions,
            self.ring_soak,
            self.ring_min_success,
            self.ring_max_failure,
            self.ring_min_sample,
        )

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


def _check_together(values: Mapping[str, Any]) -> list[str]:
    """Rules between settings, checked only when each setting on its own was valid."""
    problems = []
    window, interval, endpoint = values.get("follow_up_window"), values.get("poll_interval"), values.get("arm_endpoint")
    if window is not None and interval is not None and endpoint is not None:
        problems += read.follow_up_timing_problems(window, interval, loopback=is_loopback_url(endpoint))
    version, unlisted = values.get("hybridcompute_api_version"), values.get("allow_unlisted_api_version")
    if version is not None and unlisted is not True and version not in KNOWN_API_VERSIONS:
        problems.append(
            f"HYBRIDCOMPUTE_API_VERSION={version!r}: not one of the known GA versions"
            f" ({', '.join(KNOWN_API_VERSIONS)}); set ALLOW_UNLISTED_API_VERSION=true to use it anyway"
        )
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
        "SWEEP_SCHEDULE",
        "0 30 3 * * *",
        "When the sweep runs: 6-field NCRONTAB (second minute hour day month day-of-week), UTC. The"
        " timer trigger reads it as %SWEEP_SCHEDULE%. The default runs after the agents' daily"
        " upgrade check (about 01:10-01:30 local time).",
        "sweep_schedule",
        read.parse_ncrontab,
    ),
    _Setting(
        "SUBSCRIPTION_ALLOW_LIST",
        "",
        "Subscription GUIDs to sweep, separated by commas, semicolons or spaces; blank means every"
        " Enabled subscription the identity can see.",
        "subscription_allow_list",
        read.parse_subscriptions,
        blank_means_default=False,
    ),
    _Setting(
        "SUBSCRIPTION_DENY_LIST",
        "",
        "Subscription GUIDs never to sweep (same format); blank means none.",
        "subscription_deny_list",
        read.parse_subscriptions,
        blank_means_default=False,
    ),
    _Setting(
        "EXCLUSION_TAG",
        "arc-sweeper=exclude",
        "Tag name=value: machines carrying it are reported but never changed. Name and value both compare"
        " case-insensitively and ignoring surrounding spaces (Exclude, exclude and ' exclude ' all"
        " exclude). Blank disables exclusion.",
        "exclusion_tag",
        read.parse_exclusion_tag,
        blank_means_default=False,
    ),
    _Setting(
        "MIN_AUTO_UPGRADE_VERSION",
        "1.57",
        "Oldest agent release (MAJOR.MINOR) that can upgrade itself; older agents are reported for"
        " manual upgrade instead.",
        "minimum_auto_upgrade_version",
        read.parse_minimum_version,
    ),
    _Setting(
        "SUPPORT_WINDOW_MONTHS",
        "12",
        "Agent releases older than this many months are reported out of support (1-120).",
        "support_window_months",
        read.whole_number(1, 120),
    ),
    _Setting(
        "ARM_ENDPOINT",
        "https://management.azure.com",
        "Azure Resource Manager endpoint: https URL without path (http only for a loopback host).",
        "arm_endpoint",
        read.parse_arm_endpoint,
    ),
    _Setting(
        "HYBRIDCOMPUTE_API_VERSION",
        "2025-01-13",
        "api-version for Microsoft.HybridCompute calls: one of the GA versions 2022-12-27, 2024-07-10,"
        " 2025-01-13, 2026-07-15 (any other YYYY-MM-DD[-preview] from 2022-12-27 on only with"
        " ALLOW_UNLISTED_API_VERSION=true).",
        "hybridcompute_api_version",
        read.parse_api_version,
    ),
    _Setting(
        "ALLOW_UNLISTED_API_VERSION",
        "false",
        "true: accept a HYBRIDCOMPUTE_API_VERSION that is not in the known GA list (a newer GA version, or a"
        " preview), with a warning in the logs at start-up.",
        "allow_unlisted_api_version",
        read.parse_bool,
    ),
    _Setting(
        "DRY_RUN",
        "false",
        "true: classify and report, but never PATCH a machine (true/false, 1/0, yes/no).",
        "dry_run",
        read.parse_bool,
    ),
    _Setting(
        "PUBLIC_CLOUD_ONLY",
        "true",
        "Automatic agent upgrade is documented as available only in the Azure public cloud. true: against"
        " any other ARM_ENDPOINT (a sovereign cloud) a sweep reports but sends no PATCH, as in a dry run."
        " Set false if your cloud offers it. Loopback endpoints (the simulator) count as public.",
        "public_cloud_only",
        read.parse_bool,
    ),
    _Setting(
        "FOLLOW_UP_WINDOW",
        "P7D",
        "How long to follow a machine after enabling automatic upgrade (ISO 8601 or 7d-style duration), at most P30D.",
        "follow_up_window",
        read.duration_between(timedelta(seconds=1), MAX_FOLLOW_UP_WINDOW),
    ),
    _Setting(
        "POLL_INTERVAL",
        "PT12H",
        "How often a followed machine is checked: from PT15M (shorter only against a loopback ARM_ENDPOINT) to"
        " P6D, and shorter than FOLLOW_UP_WINDOW.",
        "poll_interval",
        read.parse_poll_interval,
    ),
    _Setting(
        "STUCK_AFTER",
        "P3D",
        "An upgrade that has been failing for longer than this is reported as stuck.",
        "stuck_after",
        parse_duration,
    ),
    _Setting(
        "TABLE_PREFIX",
        "arcsweep",
        "Prefix of the sweeper's Azure Table names: letters and digits, starting with a letter.",
        "table_prefix",
        read.parse_table_prefix,
    ),
    _Setting(
        "LOGIC_APP_WEBHOOK_URL",
        "",
        "Secret. Logic App HTTP trigger URL that receives alerts (https; http only for loopback); blank skips alerts.",
        "webhook_url",
        read.parse_webhook_url,
        show=redact_url,
        blank_means_default=False,
    ),
    _Setting(
        "MAX_PARALLEL_WRITES_PER_SUBSCRIPTION",
        "32",
        "Most PATCH calls in flight at once in one subscription (1-64). Each subscription starts at 4 (or this,"
        " if lower) and doubles while ARM answers cleanly, halving on a 429; ARM's reported write budget paces"
        " them in any case.",
        "max_parallel_writes_per_subscription",
        read.whole_number(1, 64),
    ),
    _Setting(
        "AGENT_RELEASES_FILE",
        "",
        "Release catalogue replacing the bundled one: a JSON file path (checked at start-up), or an https URL"
        " of such a file (e.g. a blob you keep current; a SAS token in it is kept secret), fetched once per run"
        " with a timeout; if the fetch or its check fails the run uses the bundled one and says so. Blank: the"
        " bundled one. Releases the estate runs that the catalogue lacks are learned either way.",
        "releases",
        read.parse_release_source,
        show=lambda text: redact_url(text) if "://" in text else repr(text),
        blank_means_default=False,
    ),
    _Setting(
        "RESOURCE_GRAPH_BATCH_SIZE",
        str(DEFAULT_RESOURCE_GRAPH_BATCH_SIZE),
        "Subscriptions per Resource Graph request and per discovery activity (1-299; Microsoft advises fewer "
        "than 300). An activity holds its batch's machines and extensions until it has written them: 200 "
        "subscriptions of 100 machines peaked at 337 MB, 50 at 190 MB (README, Benchmark).",
        "resource_graph_batch_size",
        read.whole_number(1, 299),
    ),
    _Setting(
        "ENABLE_BATCH_SIZE",
        "100",
        "Machines per enabling activity (1-500).",
        "enable_batch_size",
        read.whole_number(1, 500),
    ),
    _Setting(
        "HISTORY_RETENTION",
        "P30D",
        "Finished Durable Functions instances older than this are purged from the task hub by the daily"
        " timer, so it does not grow without bound (the sweeper's own tables are kept).",
        "history_retention",
        read.parse_retention,
    ),
    _Setting(
        "ENABLE_TIME_BUDGET",
        "PT10M",
        "Longest time one enabling activity keeps starting PATCHes (PT1M-PT20M); the rest of its chunk"
        " continues in a new call. Keeps every activity well inside host.json's functionTimeout (30"
        " minutes), past which the Python worker is restarted and everything in flight is lost.",
        "enable_time_budget",
        read.duration_between(timedelta(minutes=1), timedelta(minutes=20)),
    ),
    _Setting(
        "MAX_RETRY_WAIT",
        "PT2M",
        "Longest Retry-After, ARM write-budget pause or Resource Graph quota reset the sweeper waits for"
        " (PT1S-PT15M); a longer one fails that call, which is recorded and reported.",
        "max_retry_wait",
        read.duration_between(timedelta(seconds=1), timedelta(minutes=15)),
    ),
    _Setting(
        "ENABLING_LEASE",
        "PT6H",
        "How long a sweep holds the lease on its scope while it enables (PT10M-P1D): an overlapping"
        " sweep is refused meanwhile. A finished sweep releases it at once; a crashed one frees it"
        " when its orchestration is no longer running or the lease runs out.",
        "enabling_lease",
        read.duration_between(timedelta(minutes=10), timedelta(days=1)),
    ),
    _Setting(
        "RING_TAG",
        "",
        "Staged rollout: the tag whose whole-number value (0, 1, 2, ...) is a machine's ring (name compared"
        " case-insensitively). Blank, with RING_SUBSCRIPTIONS blank too: no rings, every machine enabled at once.",
        "ring_tag",
        read.parse_ring_tag,
        blank_means_default=False,
    ),
    _Setting(
        "RING_SUBSCRIPTIONS",
        "",
        "Staged rollout by subscription, for machines without the ring tag: ring=GUID,GUID;ring=GUID. A machine"
        " with neither falls in the last ring.",
        "ring_subscriptions",
        read.parse_ring_subscriptions,
        blank_means_default=False,
    ),
    _Setting(
        "RING_SOAK",
        "P3D",
        "How long a ring is followed after it opens before the next ring may open (PT1H-P30D).",
        "ring_soak",
        read.duration_between(timedelta(hours=1), MAX_FOLLOW_UP_WINDOW),
    ),
    _Setting(
        "RING_MIN_SUCCESS",
        "0.9",
        "The next ring opens only if at least this share of the ring's settled machines upgraded (0-1).",
        "ring_min_success",
        read.parse_share,
    ),
    _Setting(
        "RING_MAX_FAILURE",
        "0.05",
        "... and at most this share failed or got stuck (0-1).",
        "ring_max_failure",
        read.parse_share,
    ),
    _Setting(
        "RING_MIN_SAMPLE",
        "5",
        "... and at least this many of its machines settled (1-10000); a smaller ring is judged on its own"
        " numbers once every machine it enabled settled.",
        "ring_min_sample",
        read.whole_number(1, 10000),
    ),
    _Setting(
        "EXTENSION_UPGRADE_MODE",
        "report",
        "Machine extensions: off (not read), report (read, classified, followed and reported; never written) or"
        " enable (also PATCH supported extensions whose automatic upgrade is off, except on excluded machines and"
        " for types on EXTENSION_DENY_LIST; needs the extensions read/write role).",
        "extension_upgrade_mode",
        read.parse_extension_mode,
    ),
    _Setting(
        "EXTENSION_DENY_LIST",
        "",
        "Extension types never changed, as type or publisher.type (e.g. AzureMonitorWindowsAgent), separated by"
        " commas; blank means none.",
        "extension_deny_list",
        read.parse_extension_deny_list,
        blank_means_default=False,
    ),
    _Setting(
        "SUPPORTED_EXTENSIONS_FILE",
        "",
        "Path to a JSON list of the extension types automatic extension upgrade supports, replacing the bundled"
        " data/auto_upgrade_extensions.json; blank uses the bundled one.",
        "supported_extensions",
        read.load_supported_extensions,
        blank_means_default=False,
    ),
    _Setting(
        "AzureWebJobsStorage",
        "",
        "Secret. Storage connection string of the Functions host, also used for the sweeper's tables "
        "(locally UseDevelopmentStorage=true). In Azure leave it unset: the deployment sets identity-based "
        "AzureWebJobsStorage__tableServiceUri and friends, which take precedence.",
        "storage_connection",
        read.parse_storage_connection,
        show=lambda _: "(hidden)",
    ),
)

SETTINGS_TABLE: list[tuple[str, str, str]] = [(setting.name, setting.default, setting.meaning) for setting in _SETTINGS]
"""(name, default, meaning) of every setting, in the order the README lists them."""
