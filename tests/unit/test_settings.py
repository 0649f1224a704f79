"""App settings: defaults, every bad value's message, all problems at once, secrets kept out."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from arc_sweeper.catalogue import ReleaseCatalogue
from arc_sweeper.findings import ClassificationPolicy
from arc_sweeper.setting_values import parse_ncrontab
from arc_sweeper.settings import SETTINGS_TABLE, Settings, SettingsError

SECRET = "sig=Zm9vYmFyc2VjcmV0"
WEBHOOK = f"https://prod-01.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-10-01&sp=%2Ftriggers&sv=1.0&{SECRET}"
SUBSCRIPTION = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"


def problems_for(env: dict[str, str]) -> tuple[str, ...]:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    return raised.value.problems


def test_defaults_produce_valid_settings() -> None:
    settings = Settings.from_env({})
    assert settings.sweep_schedule == "0 30 3 * * *"
    assert settings.subscription_allow_list == ()
    assert settings.subscription_deny_list == ()
    assert settings.exclusion_tag == ("arc-sweeper", "exclude")
    assert settings.minimum_auto_upgrade_version == (1, 57)
    assert settings.support_window_months == 12
    assert settings.arm_endpoint == "https://management.azure.com"
    assert settings.hybridcompute_api_version == "2025-01-13"
    assert settings.dry_run is False
    assert settings.follow_up_window == timedelta(days=7)
    assert settings.poll_interval == timedelta(hours=12)
    assert settings.stuck_after == timedelta(days=3)
    assert settings.table_prefix == "arcsweep"
    assert settings.webhook_url == ""
    assert settings.redacted_webhook_url == ""
    assert settings.max_parallel_writes_per_subscription == 32
    assert settings.releases.catalogue == ReleaseCatalogue.load()
    assert settings.resource_graph_batch_size == 50
    assert settings.enable_batch_size == 100
    assert settings.storage_connection == ""  # in Azure the identity-based settings are used


def test_classification_policy_carries_the_classification_settings() -> None:
    settings = Settings.from_env(
        {"MIN_AUTO_UPGRADE_VERSION": "1.60", "SUPPORT_WINDOW_MONTHS": "6", "EXCLUSION_TAG": "keep=yes"}
    )
    assert settings.classification_policy(date(2026, 8, 15), settings.releases.catalogue) == ClassificationPolicy(
        sweep_date=date(2026, 8, 15),
        catalogue=settings.releases.catalogue,
        minimum_auto_upgrade_version=(1, 60),
        support_window_months=6,
        exclusion_tag=("keep", "yes"),
    )


def test_settings_table_lists_every_setting_once_with_its_default() -> None:
    names = [name for name, _, _ in SETTINGS_TABLE]
    assert len(names) == len(set(names)) == len(dataclasses.fields(Settings))
    assert all(meaning.strip() for _, _, meaning in SETTINGS_TABLE)
    defaults = {name: default for name, default, _ in SETTINGS_TABLE}
    assert Settings.from_env(defaults) == Settings.from_env({})


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRY_RUN", "yes")
    assert Settings.from_env().dry_run is True


@pytest.mark.parametrize(
    ("name", "value", "attribute", "expected"),
    [
        ("SWEEP_SCHEDULE", "0  */5 * * * MON-FRI", "sweep_schedule", "0 */5 * * * MON-FRI"),
        (
            "SUBSCRIPTION_ALLOW_LIST",
            f"{SUBSCRIPTION.upper()}; 11111111-2222-3333-4444-555555555555,\n{SUBSCRIPTION}",
            "subscription_allow_list",
            (SUBSCRIPTION, "11111111-2222-3333-4444-555555555555"),
        ),
        ("SUBSCRIPTION_DENY_LIST", f" {SUBSCRIPTION} ", "subscription_deny_list", (SUBSCRIPTION,)),
        ("SUBSCRIPTION_ALLOW_LIST", " ", "subscription_allow_list", ()),
        ("EXCLUSION_TAG", "Patching = manual", "exclusion_tag", ("Patching", "manual")),
        ("EXCLUSION_TAG", "a=b=c", "exclusion_tag", ("a", "b=c")),
        ("EXCLUSION_TAG", "", "exclusion_tag", None),
        ("EXCLUSION_TAG", "  ", "exclusion_tag", None),
        ("MIN_AUTO_UPGRADE_VERSION", "1.62", "minimum_auto_upgrade_version", (1, 62)),
        ("SUPPORT_WINDOW_MONTHS", "120", "support_window_months", 120),
        ("SUPPORT_WINDOW_MONTHS", "1", "support_window_months", 1),
        (
            "ARM_ENDPOINT",
            "https://management.usgovcloudapi.net/",
            "arm_endpoint",
            "https://management.usgovcloudapi.net",
        ),
        ("ARM_ENDPOINT", "http://127.0.0.1:8443", "arm_endpoint", "http://127.0.0.1:8443"),
        ("ARM_ENDPOINT", "http://127.10.0.5:80/", "arm_endpoint", "http://127.10.0.5:80"),
        ("ARM_ENDPOINT", "http://localhost:7071", "arm_endpoint", "http://localhost:7071"),
        ("ARM_ENDPOINT", "http://[::1]:8080", "arm_endpoint", "http://[::1]:8080"),
        ("HYBRIDCOMPUTE_API_VERSION", "2022-12-27", "hybridcompute_api_version", "2022-12-27"),
        ("HYBRIDCOMPUTE_API_VERSION", "2026-07-15", "hybridcompute_api_version", "2026-07-15"),
        ("ALLOW_UNLISTED_API_VERSION", "yes", "allow_unlisted_api_version", True),
        ("DRY_RUN", "TRUE", "dry_run", True),
        ("DRY_RUN", "1", "dry_run", True),
        ("DRY_RUN", "Yes", "dry_run", True),
        ("DRY_RUN", "no", "dry_run", False),
        ("DRY_RUN", "0", "dry_run", False),
        ("PUBLIC_CLOUD_ONLY", "false", "public_cloud_only", False),
        ("FOLLOW_UP_WINDOW", "14d", "follow_up_window", timedelta(days=14)),
        ("POLL_INTERVAL", "P6D", "poll_interval", timedelta(days=6)),
        ("POLL_INTERVAL", "30m", "poll_interval", timedelta(minutes=30)),
        ("STUCK_AFTER", "PT36H", "stuck_after", timedelta(hours=36)),
        ("TABLE_PREFIX", "A" * 50, "table_prefix", "A" * 50),
        ("TABLE_PREFIX", "sweep2", "table_prefix", "sweep2"),
        ("LOGIC_APP_WEBHOOK_URL", WEBHOOK, "webhook_url", WEBHOOK),
        (
            "LOGIC_APP_WEBHOOK_URL",
            "http://localhost:7071/alerts?sig=x",
            "webhook_url",
            "http://localhost:7071/alerts?sig=x",
        ),
        ("MAX_PARALLEL_WRITES_PER_SUBSCRIPTION", "64", "max_parallel_writes_per_subscription", 64),
        ("RESOURCE_GRAPH_BATCH_SIZE", "299", "resource_graph_batch_size", 299),
        ("ENABLE_BATCH_SIZE", "500", "enable_batch_size", 500),
        ("ENABLE_BATCH_SIZE", " 7 ", "enable_batch_size", 7),
        ("HISTORY_RETENTION", "90d", "history_retention", timedelta(days=90)),
        ("ENABLE_TIME_BUDGET", "5m", "enable_time_budget", timedelta(minutes=5)),
        ("MAX_RETRY_WAIT", "PT30S", "max_retry_wait", timedelta(seconds=30)),
        ("ENABLING_LEASE", "PT2H", "enabling_lease", timedelta(hours=2)),
        (
            "AzureWebJobsStorage",
            "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=k",
            "storage_connection",
            "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=k",
        ),
        # Blank settings without a meaning of their own take the default.
        ("SWEEP_SCHEDULE", "", "sweep_schedule", "0 30 3 * * *"),
        ("DRY_RUN", "  ", "dry_run", False),
        ("AzureWebJobsStorage", "", "storage_connection", ""),
    ],
)
def test_reads_good_values(name: str, value: str, attribute: str, expected: Any) -> None:
    assert getattr(Settings.from_env({name: value}), attribute) == expected


BAD_VALUES = [
    ("SWEEP_SCHEDULE", "0 30 3 * *", "expected 6 NCRONTAB fields"),
    ("SWEEP_SCHEDULE", "0 60 3 * * *", "minute field '60'"),
    ("SUBSCRIPTION_ALLOW_LIST", f"{SUBSCRIPTION}, not-a-guid", "not subscription GUIDs: 'not-a-guid'"),
    ("SUBSCRIPTION_DENY_LIST", "{" + SUBSCRIPTION + "}", "not subscription GUIDs"),
    ("EXCLUSION_TAG", "arc-sweeper", "expected name=value"),
    ("EXCLUSION_TAG", "=exclude", "expected name=value"),
    ("EXCLUSION_TAG", "arc-sweeper=", "expected name=value"),
    ("EXCLUSION_TAG", "a/b=c", "Azure tag names cannot contain"),
    ("MIN_AUTO_UPGRADE_VERSION", "1.57.03197", "expected MAJOR.MINOR"),
    ("MIN_AUTO_UPGRADE_VERSION", "latest", "expected MAJOR.MINOR"),
    ("SUPPORT_WINDOW_MONTHS", "0", "whole number from 1 to 120"),
    ("SUPPORT_WINDOW_MONTHS", "121", "whole number from 1 to 120"),
    ("SUPPORT_WINDOW_MONTHS", "12.5", "whole number from 1 to 120"),
    ("SUPPORT_WINDOW_MONTHS", "-3", "whole number from 1 to 120"),
    ("SUPPORT_WINDOW_MONTHS", "1_2", "whole number from 1 to 120"),
    ("ARM_ENDPOINT", "management.azure.com", "expected an absolute https:// URL"),
    ("ARM_ENDPOINT", "ftp://management.azure.com", "expected an absolute https:// URL"),
    ("ARM_ENDPOINT", "http://management.azure.com", "http is allowed only for a loopback host"),
    ("ARM_ENDPOINT", "http://10.0.0.1", "http is allowed only for a loopback host"),
    ("ARM_ENDPOINT", "http://localhost.example.com", "http is allowed only for a loopback host"),
    ("ARM_ENDPOINT", "https://management.azure.com/subscriptions", "expected only scheme, host and port"),
    ("ARM_ENDPOINT", "https://management.azure.com?x=1", "expected only scheme, host and port"),
    ("ARM_ENDPOINT", "https://user:pw@management.azure.com", "user name or password"),
    ("ARM_ENDPOINT", "https://management.azure.com:port", "not a valid URL"),
    ("ARM_ENDPOINT", "https://manage ment.azure.com", "cannot contain spaces"),
    ("HYBRIDCOMPUTE_API_VERSION", "2022-11-10", "2022-12-27 or later"),
    ("HYBRIDCOMPUTE_API_VERSION", "2025-01-13-beta", "YYYY-MM-DD or YYYY-MM-DD-preview"),
    ("HYBRIDCOMPUTE_API_VERSION", "2025-02-30", "with a real date"),
    ("HYBRIDCOMPUTE_API_VERSION", "latest", "YYYY-MM-DD or YYYY-MM-DD-preview"),
    ("HYBRIDCOMPUTE_API_VERSION", "2024-05-20-preview", "set ALLOW_UNLISTED_API_VERSION=true"),
    ("ALLOW_UNLISTED_API_VERSION", "maybe", "expected true or false"),
    ("FOLLOW_UP_WINDOW", "P45D", "must be from PT1S to P30D"),
    ("DRY_RUN", "maybe", "expected true or false"),
    ("DRY_RUN", "on", "expected true or false"),
    ("PUBLIC_CLOUD_ONLY", "sometimes", "expected true or false"),
    ("FOLLOW_UP_WINDOW", "P1M", "years and months are ambiguous"),
    ("FOLLOW_UP_WINDOW", "7 days", "expected ISO 8601"),
    ("FOLLOW_UP_WINDOW", "P0D", "longer than zero"),
    ("POLL_INTERVAL", "P7D", "at most P6D"),
    ("POLL_INTERVAL", "-PT12H", "expected ISO 8601"),
    ("STUCK_AFTER", "0s", "longer than zero"),
    ("TABLE_PREFIX", "1sweep", "starting with a letter"),
    ("TABLE_PREFIX", "arc-sweep", "letters and digits"),
    ("TABLE_PREFIX", "A" * 51, "at most 50 characters"),
    ("LOGIC_APP_WEBHOOK_URL", "prod.logic.azure.com/workflows", "expected an absolute https:// URL"),
    ("MAX_PARALLEL_WRITES_PER_SUBSCRIPTION", "0", "whole number from 1 to 64"),
    ("MAX_PARALLEL_WRITES_PER_SUBSCRIPTION", "65", "whole number from 1 to 64"),
    ("RESOURCE_GRAPH_BATCH_SIZE", "300", "whole number from 1 to 299"),
    ("ENABLE_BATCH_SIZE", "501", "whole number from 1 to 500"),
    ("ENABLE_BATCH_SIZE", "many", "whole number from 1 to 500"),
    ("HISTORY_RETENTION", "PT12H", "at least one day"),
    ("HISTORY_RETENTION", "forever", "expected ISO 8601"),
    ("ENABLE_TIME_BUDGET", "PT25M", "must be from PT1M to PT20M"),
    ("AzureWebJobsStorage", "AccountName=x;garbage", "not a storage connection string"),
    ("RING_TAG", "ring/wave", "tag names cannot contain"),
    ("RING_SUBSCRIPTIONS", "first=0B1F6471-1BF0-4DDA-AEC3-CB9272F09590", "whole ring numbers"),
    ("RING_SOAK", "PT5M", "must be from PT1H to P30D"),
    ("RING_MIN_SUCCESS", "90%", "a share from 0 to 1"),
    ("RING_MAX_FAILURE", "1.5", "a share from 0 to 1"),
    ("RING_MIN_SAMPLE", "0", "a whole number from 1 to 10000"),
    ("EXTENSION_UPGRADE_MODE", "on", "expected one of off, report, enable"),
    ("EXTENSION_DENY_LIST", "AzureMonitor*", "not extension types (type or publisher.type): 'AzureMonitor*'"),
    ("SUPPORTED_EXTENSIONS_FILE", "/nonexistent/supported.json", "cannot read it as JSON"),
    ("MAX_RETRY_WAIT", "P1D", "must be from PT1S to PT15M"),
    ("ENABLING_LEASE", "PT1M", "must be from PT10M to P1D"),
    ("AGENT_RELEASES_FILE", "/no/such/releases.json", "cannot read the file"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES)
def test_each_bad_value_names_the_setting_the_value_and_what_is_expected(name: str, value: str, message: str) -> None:
    (problem,) = problems_for({name: value})
    assert problem.startswith(f"{name}=")
    assert message in problem
    shown = {"LOGIC_APP_WEBHOOK_URL": "(unparsable URL)", "AzureWebJobsStorage": "(hidden)"}.get(name, repr(value))
    assert shown in problem


def test_bad_values_table_covers_every_checked_setting() -> None:
    assert {name for name, _, _ in BAD_VALUES} == {name for name, _, _ in SETTINGS_TABLE}


def test_every_problem_is_reported_at_once() -> None:
    env = {name: value for name, value, _ in BAD_VALUES}
    problems = problems_for(env)
    reported = {problem.split("=", 1)[0] for problem in problems}
    assert reported == {name for name, _, _ in BAD_VALUES}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    message = str(raised.value)
    assert message.startswith(f"{len(problems)} invalid app setting(s):")
    assert all(problem in message for problem in problems)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(("window", "interval"), [("P2D", "P2D"), ("PT12H", "P1D"), ("1h", "3600s")])
def test_poll_interval_must_be_shorter_than_the_follow_up_window(window: str, interval: str) -> None:
    (problem,) = problems_for({"FOLLOW_UP_WINDOW": window, "POLL_INTERVAL": interval})
    assert problem.startswith("POLL_INTERVAL=")
    assert "must be shorter than FOLLOW_UP_WINDOW=" in problem


def test_poll_interval_is_compared_only_with_a_valid_window() -> None:
    (problem,) = problems_for({"FOLLOW_UP_WINDOW": "P1M", "POLL_INTERVAL": "P6D"})
    assert problem.startswith("FOLLOW_UP_WINDOW=")


def test_blank_means_none_where_blank_has_a_meaning() -> None:
    settings = Settings.from_env({"EXCLUSION_TAG": "", "LOGIC_APP_WEBHOOK_URL": "", "AGENT_RELEASES_FILE": ""})
    assert settings.exclusion_tag is None
    assert settings.webhook_url == ""
    assert settings.releases.catalogue == ReleaseCatalogue.load()


@pytest.mark.parametrize(
    "webhook",
    [
        f"http://prod.logic.azure.com/workflows/x?{SECRET}",  # http off loopback
        f"ftp://prod.logic.azure.com/workflows/x?{SECRET}",
        f"prod.logic.azure.com/workflows/x?{SECRET}",  # no scheme
        f"https://prod.logic.azure.com:notaport/workflows/x?{SECRET}",
        f"https://{SECRET}@prod.logic.azure.com/x",
        f"https://prod.logic.azure.com/work flows/x?{SECRET}",
        f"https://[::1/x?{SECRET}",
        SECRET,
    ],
)
def test_a_bad_webhook_url_never_shows_its_secret(webhook: str) -> None:
    (problem,) = problems_for({"LOGIC_APP_WEBHOOK_URL": webhook})
    assert problem.startswith("LOGIC_APP_WEBHOOK_URL=")
    assert "Zm9vYmFyc2VjcmV0" not in problem
    assert "workflows" not in problem


def test_a_good_webhook_url_stays_out_of_repr_and_other_errors() -> None:
    settings = Settings.from_env({"LOGIC_APP_WEBHOOK_URL": WEBHOOK})
    assert settings.webhook_url == WEBHOOK
    assert settings.redacted_webhook_url == "https://prod-01.westeurope.logic.azure.com:443"
    for text in (repr(settings), str(settings), settings.redacted_webhook_url):
        assert "sig=" not in text and "Zm9vYmFyc2VjcmV0" not in text
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"LOGIC_APP_WEBHOOK_URL": WEBHOOK, "DRY_RUN": "maybe"})
    assert "sig=" not in str(raised.value)


def test_the_storage_connection_string_stays_out_of_repr() -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": "AccountName=x;AccountKey=c2VjcmV0a2V5"})
    assert "c2VjcmV0a2V5" not in repr(settings)


def test_a_release_catalogue_file_overrides_the_bundled_one(tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    path.write_text(json.dumps({"releases": [{"version": "1.70", "released": "2026-11"}]}), encoding="utf-8")
    assert Settings.from_env({"AGENT_RELEASES_FILE": str(path)}).releases.catalogue.newest() == (1, 70)


def test_a_malformed_release_catalogue_file_is_reported_with_its_problem(tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    path.write_text('{"releases": [{"version": "1.70", "released": "November"}]}', encoding="utf-8")
    (problem,) = problems_for({"AGENT_RELEASES_FILE": str(path)})
    assert problem.startswith(f"AGENT_RELEASES_FILE={str(path)!r}: ")
    assert 'releases[0]: "released" must be "YYYY-MM"' in problem


# --- NCRONTAB ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    [
        "0 30 3 * * *",
        "0 */5 * * * *",
        "*/30 * * * * *",
        "0 0 9-17 * * MON-FRI",
        "0 0 12 * * sun,sat",
        "0 0,15,30,45 * * * *",
        "0 0 0 1 JAN *",
        "0 0 0 1-15/2 jan-jun 0-6",
        "59 59 23 31 12 6",
        "0 0 0 * * 1-5/2",
        "5/15 * * * * *",
    ],
)
def test_accepts_valid_ncrontab(schedule: str) -> None:
    assert parse_ncrontab(schedule) == schedule


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("", "got 0"),
        ("30 3 * * *", "got 5"),
        ("0 0 30 3 * * *", "got 7"),
        ("60 * * * * *", "second field '60'"),
        ("* 60 * * * *", "minute field '60'"),
        ("* * 24 * * *", "hour field '24'"),
        ("* * * 0 * *", "day of month field '0'"),
        ("* * * 32 * *", "day of month field '32'"),
        ("* * * * 0 *", "month field '0'"),
        ("* * * * 13 *", "month field '13'"),
        ("* * * * FOO *", "or JAN-DEC"),
        ("* * * * * 7", "day of week field '7'"),
        ("* * * * * MONDAY", "or SUN-SAT"),
        ("* * * * * JAN", "day of week field 'JAN'"),
        ("* * 17-9 * * *", "a range must go from low to high"),
        ("* * * * * FRI-MON", "a range must go from low to high"),
        ("*/0 * * * * *", "the step must be from 1 to 59"),
        ("* * * * * ?", "day of week field '?'"),
        ("0,,5 * * * * *", "second field ''"),
        ("0 30 3 * * * # daily", "got 8"),
        ("-1 * * * * *", "second field '-1'"),
        ("%SWEEP_SCHEDULE% * * * * *", "second field"),
    ],
)
def test_rejects_invalid_ncrontab_naming_the_field(schedule: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_ncrontab(schedule)
    assert message in str(raised.value)


def test_an_unlisted_api_version_is_accepted_only_when_allowed() -> None:
    settings = Settings.from_env(
        {"HYBRIDCOMPUTE_API_VERSION": "2024-05-20-preview", "ALLOW_UNLISTED_API_VERSION": "true"}
    )
    assert settings.hybridcompute_api_version == "2024-05-20-preview"


def test_a_poll_interval_below_fifteen_minutes_needs_a_loopback_endpoint() -> None:
    (problem,) = problems_for({"POLL_INTERVAL": "PT1M"})
    assert problem.startswith("POLL_INTERVAL=PT1M: must be at least PT15M")
    loopback = Settings.from_env({"POLL_INTERVAL": "PT1M", "ARM_ENDPOINT": "http://127.0.0.1:8080"})
    assert loopback.poll_interval.seconds == 60


def test_rings_are_off_unless_configured_and_map_subscriptions_to_rings() -> None:
    assert Settings.from_env({}).ring_policy is None
    sub_a, sub_b = "0b1f6471-1bf0-4dda-aec3-cb9272f09590", "1b1f6471-1bf0-4dda-aec3-cb9272f09590"
    policy = Settings.from_env({"RING_SUBSCRIPTIONS": f"0={sub_a.upper()}; 1={sub_b}"}).ring_policy
    assert policy is not None and policy.by_subscription == {sub_a: 0, sub_b: 1} and policy.tag == ""
    (problem,) = problems_for({"RING_SUBSCRIPTIONS": f"0={sub_a};1={sub_a}"})
    assert "in more than one ring" in problem
