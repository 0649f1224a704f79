"""Every alert the product can build matches the committed schema and stays small."""

from __future__ import annotations

import json

import pytest
from alert_factories import SUBSCRIPTION, attention, machine_id, report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arc_sweeper.reporting.alerts import KNOWN_COUNT_NAMES, MAX_ALERT_BYTES, SCHEMA_VERSION, build_alert, encode_alert
from arc_sweeper.reporting.attention import AttentionItem
from arc_sweeper.vocabulary import AlertKind, AttentionKind

GENERATED = "2026-07-01T03:41:13Z"
APP_URL = "https://func-arc.azurewebsites.net"
STATUS_URL = "https://func-arc.azurewebsites.net/api/sweeps/sweep-20260701T033000Z"


def alert(kind: str = AlertKind.SWEEP_COMPLETED, run=None, **options):
    return build_alert(kind, run or report(), generated_at=GENERATED, app_url=APP_URL, **options)


def one_of_each_kind() -> tuple[AttentionItem, ...]:
    return tuple(
        attention(kind, f"srv-{index:02}", code="Code", message="message", since="2026-06-30T00:00:00Z")
        for index, kind in enumerate(list(AttentionKind))
    )


# --- the schema file itself ---------------------------------------------------------------


def test_schema_names_every_kind_and_count_the_code_knows(alert_schema):
    properties = alert_schema["properties"]
    assert properties["schemaVersion"]["enum"] == [SCHEMA_VERSION]
    assert properties["kind"]["enum"] == list(AlertKind)
    attention_schema = properties["attention"]["properties"]
    assert attention_schema["items"]["items"]["properties"]["kind"]["enum"] == list(AttentionKind)
    assert set(attention_schema["byKind"]["properties"]) == set(list(AttentionKind))
    for group, names in KNOWN_COUNT_NAMES.items():
        assert list(properties["counts"]["properties"][group]["properties"]) == list(names)


def test_schema_uses_only_keywords_a_logic_app_trigger_accepts(alert_schema):
    tolerated = {
        "$schema",
        "title",
        "description",
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "maxLength",
        "minimum",
        "additionalProperties",
    }

    def keywords(node, inside_properties=False):
        if isinstance(node, dict):
            for key, value in node.items():
                if not inside_properties:
                    yield key
                yield from keywords(value, inside_properties=(key == "properties" and not inside_properties))
        elif isinstance(node, list):
            for value in node:
                yield from keywords(value)

    assert set(keywords(alert_schema)) <= tolerated


# --- each kind ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_kind_matches_the_schema(kind, assert_valid):
    run = report(attention=one_of_each_kind(), error="boom" if kind == AlertKind.SWEEP_FAILED else "")
    payload = alert(kind, run)
    assert_valid(payload)
    assert payload["kind"] == kind
    assert payload["schemaVersion"] == "1.2"
    assert payload["runId"] == run.run_id
    assert payload["links"]["runStatusUrl"] == STATUS_URL
    assert payload["links"]["reportUrl"] == f"{STATUS_URL}/report"


def test_sweep_completed_digest_carries_counts_and_scope(assert_valid):
    run = report(
        dry_run=True,
        status="following",
        ended_at="",
        scope=(SUBSCRIPTION,),
        trigger="http",
        result_counts={"dry_run": 20},
    )
    payload = alert(AlertKind.SWEEP_COMPLETED, run)
    assert_valid(payload)
    assert payload["dryRun"] is True and payload["trigger"] == "http" and payload["endedAt"] == ""
    assert payload["scope"] == {
        "allSubscriptions": False,
        "requestedSubscriptionIds": [SUBSCRIPTION],
        "requestedTotal": 1,
        "subscriptionsInScope": 3,
        "machinesSeen": 120,
    }
    assert payload["counts"]["results"]["dry_run"] == 20
    assert payload["counts"]["results"]["failed"] == 0
    assert "would enable 20" in payload["summary"]


def test_follow_up_completed_carries_the_cohort_outcome(assert_valid):
    run = report(outcome_counts={"upgraded": 17, "upgrade_failed": 2, "pending": 1})
    payload = alert(AlertKind.FOLLOW_UP_COMPLETED, run)
    assert_valid(payload)
    assert payload["counts"]["outcomes"] == {
        "upgraded": 17,
        "up_to_date": 0,
        "upgrade_failed": 2,
        "stuck": 0,
        "pending": 1,
        "disconnected": 0,
        "gone": 0,
    }
    assert "17 upgraded" in payload["summary"]


def test_sweep_failed_carries_the_error(assert_valid):
    payload = alert(AlertKind.SWEEP_FAILED, report(status="failed", error="ResourceGraph: 403 AuthorizationFailed"))
    assert_valid(payload)
    assert payload["error"] == "ResourceGraph: 403 AuthorizationFailed"
    assert payload["severity"] == "error"


def test_sweep_failed_without_a_message_still_says_why_to_look(assert_valid):
    payload = alert(AlertKind.SWEEP_FAILED, report(status="failed", trigger="unknown"))
    assert_valid(payload)
    assert payload["error"]
    assert payload["trigger"] == "unknown"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown alert kind"):
        alert("sweep_exploded")


def test_the_status_url_never_carries_a_key():
    payload = build_alert(
        AlertKind.SWEEP_COMPLETED, report(), generated_at=GENERATED, app_url=APP_URL + "?code=SECRETFUNCTIONKEY=="
    )
    assert payload["links"] == {"runStatusUrl": STATUS_URL, "reportUrl": STATUS_URL + "/report"}
    assert "SECRETFUNCTIONKEY" not in json.dumps(payload)


def test_no_status_url_gives_an_empty_link(assert_valid):
    payload = build_alert(AlertKind.SWEEP_COMPLETED, report(), generated_at=GENERATED, app_url="")
    assert_valid(payload)
    assert payload["links"] == {"runStatusUrl": "", "reportUrl": ""}


# --- the attention list ---------------------------------------------------------------------


def test_items_come_most_severe_first_then_oldest():
    items = (
        attention(AttentionKind.UNKNOWN_VERSION, "a"),
        attention(AttentionKind.SUBSCRIPTION_SKIPPED, "b"),
        attention(AttentionKind.UPGRADE_FAILED, "c", since="2026-06-20T00:00:00Z"),
        attention(AttentionKind.ENABLE_FAILED, "d", since="2026-06-30T00:00:00Z"),
        attention(AttentionKind.ENABLE_FAILED, "e", since="2026-06-29T00:00:00Z"),
        attention(AttentionKind.UPGRADE_STUCK, "f"),
    )
    names = [item["name"] for item in alert(run=report(attention=items))["attention"]["items"]]
    assert names == ["e", "d", "f", "c", "b", "a"]


def test_a_held_ring_is_never_pushed_out_by_the_machines_warnings(assert_valid):
    # The demo week's estate: hundreds of per-machine warnings and one held ring. The held ring says why a whole
    # ring's rollout stopped, with the numbers: it comes first of the warnings, right after the errors.
    machines = tuple(attention(AttentionKind.MANUAL_UPGRADE_NEEDED, f"srv-{i:04}") for i in range(300))
    machines += tuple(attention(AttentionKind.UPGRADE_FAILED, f"web-{i:04}") for i in range(60))
    held = AttentionItem(
        AttentionKind.RING_HELD,
        "/rings/2",
        "",
        "ring 2",
        "held",
        "ring 1: 49 settled, 84% upgraded (at least 90%), 16% failing or stuck (at most 10%): held",
        "2026-07-01T03:30:01Z",
    )
    payload = alert(run=report(attention=(*machines, held, attention(AttentionKind.ENABLE_FAILED, "locked-01"))))
    assert_valid(payload)
    names = [item["name"] for item in payload["attention"]["items"]]
    assert payload["attention"]["truncated"] and names[:3] == ["locked-01", "ring 2", "web-0000"]
    assert payload["attention"]["items"][1]["message"].startswith("ring 1: 49 settled")


def test_items_carry_what_an_operator_needs(assert_valid):
    item = attention(
        AttentionKind.ENABLE_FAILED,
        "srv-07",
        code="AuthorizationFailed",
        message="The client does not have authorization",
        since="2026-07-01T03:35:00Z",
    )
    payload = alert(run=report(attention=(item,)))
    assert_valid(payload)
    assert payload["attention"]["items"] == [
        {
            "kind": "enable_failed",
            "resourceId": machine_id("srv-07"),
            "subscriptionId": SUBSCRIPTION,
            "name": "srv-07",
            "code": "AuthorizationFailed",
            "message": "The client does not have authorization",
            "since": "2026-07-01T03:35:00Z",
            "portalUrl": "https://portal.azure.com/#resource" + machine_id("srv-07"),
        }
    ]


def test_more_items_than_the_cap_keep_the_totals(assert_valid):
    items = tuple(attention(AttentionKind.NOT_CONNECTED, f"srv-{i:04}") for i in range(300)) + (
        attention(AttentionKind.ENABLE_FAILED, "the-one-that-failed"),
    )
    payload = alert(run=report(attention=items), max_items=25)
    assert_valid(payload)
    block = payload["attention"]
    assert (block["total"], block["returned"], block["truncated"]) == (301, 25, True)
    assert block["byKind"]["not_connected"] == 300 and block["byKind"]["enable_failed"] == 1
    assert block["byKind"]["expired"] == 0
    assert block["items"][0]["name"] == "the-one-that-failed"
    assert payload["severity"] == "error"


def test_default_cap_is_fifty():
    items = tuple(attention(AttentionKind.EXPIRED, f"srv-{i:03}") for i in range(51))
    block = alert(run=report(attention=items))["attention"]
    assert (block["returned"], block["truncated"]) == (50, True)


def test_a_cap_of_zero_sends_only_the_totals(assert_valid):
    payload = alert(run=report(attention=one_of_each_kind()), max_items=0)
    assert_valid(payload)
    assert payload["attention"]["items"] == [] and payload["attention"]["total"] == len(list(AttentionKind))


def test_a_huge_estate_stays_under_64_kib(assert_valid):
    long_code, long_message = "E" * 200, "é" * 5000
    items = tuple(
        attention(
            list(AttentionKind)[i % len(list(AttentionKind))],
            f"srv-{i:06}",
            code=long_code,
            message=long_message,
            since=f"2026-06-{1 + i % 28:02}T00:00:00Z",
        )
        for i in range(100_000)
    )
    scope = tuple(f"{i:08}-0000-0000-0000-000000000000" for i in range(5000))
    payload = alert(run=report(attention=items, scope=scope), max_items=500)
    assert_valid(payload)
    size = len(encode_alert(payload))
    assert size <= MAX_ALERT_BYTES < 64 * 1024
    assert payload["attention"]["total"] == 100_000
    assert 0 < payload["attention"]["returned"] < 500 and payload["attention"]["truncated"]
    assert payload["scope"]["requestedTotal"] == 5000 and len(payload["scope"]["requestedSubscriptionIds"]) == 50


def test_the_byte_budget_applies_even_within_the_item_cap(assert_valid):
    items = tuple(attention(AttentionKind.UPGRADE_FAILED, f"srv-{i}", message="🔥" * 500) for i in range(50))
    payload = alert(run=report(attention=items))
    assert_valid(payload)
    assert len(encode_alert(payload)) <= MAX_ALERT_BYTES
    assert payload["attention"]["returned"] < 50 and payload["attention"]["truncated"]


# --- weird data -----------------------------------------------------------------------------


def test_empty_counts_and_no_items(assert_valid):
    run = report(
        finding_counts={},
        action_counts={},
        result_counts={},
        outcome_counts={},
        machines_seen=0,
        subscriptions_in_scope=0,
    )
    payload = alert(run=run)
    assert_valid(payload)
    assert set(payload["counts"]["findings"].values()) == {0}
    assert payload["attention"] == {
        "total": 0,
        "returned": 0,
        "truncated": False,
        "byKind": {kind: 0 for kind in list(AttentionKind)},
        "items": [],
    }


def test_count_names_the_schema_does_not_list_are_kept(assert_valid):
    payload = alert(run=report(finding_counts={"some_future_finding": 3}))
    assert_valid(payload)
    assert payload["counts"]["findings"]["some_future_finding"] == 3


def test_unicode_names_and_very_long_texts(assert_valid):
    item = AttentionItem(
        kind=AttentionKind.UPGRADE_STUCK,
        resource_id=machine_id("сервер-東京-01"),
        subscription_id=SUBSCRIPTION,
        name="сервер-東京-01 🚀",
        code="Failed",
        message="x" * 100_000,
        since="2026-06-01T00:00:00Z",
    )
    run = report(attention=(item,), error="e" * 50_000, run_id="r" * 500)
    payload = alert(AlertKind.SWEEP_FAILED, run)
    assert_valid(payload)
    sent = payload["attention"]["items"][0]
    assert sent["name"] == "сервер-東京-01 🚀"
    assert len(sent["message"]) == 500 and sent["message"].endswith("…")
    assert sent["portalUrl"].isascii()
    assert len(payload["error"]) == 2000


def test_lone_surrogates_do_not_break_the_encoding(assert_valid):
    item = attention(AttentionKind.UPGRADE_FAILED, message="bad \ud800 text")
    payload = alert(run=report(attention=(item,)))
    assert_valid(payload)
    encode_alert(payload).decode("utf-8")


weird_text = st.text(st.characters(exclude_categories=()), max_size=700)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(list(AlertKind)),
    items=st.lists(
        st.builds(
            AttentionItem,
            kind=st.sampled_from(list(AttentionKind)),
            resource_id=weird_text,
            subscription_id=weird_text,
            name=weird_text,
            code=weird_text,
            message=weird_text,
            since=weird_text,
        ),
        max_size=80,
    ),
    counts=st.dictionaries(weird_text, st.integers(min_value=0, max_value=10**9), max_size=5),
    max_items=st.integers(min_value=0, max_value=120),
)
def test_any_report_gives_a_valid_bounded_payload(kind, items, counts, max_items, assert_valid):
    payload = alert(kind, report(attention=tuple(items), finding_counts=counts), max_items=max_items)
    assert_valid(payload)
    assert len(encode_alert(payload)) <= MAX_ALERT_BYTES
    block = payload["attention"]
    assert block["returned"] == len(block["items"]) <= min(max_items, len(items))
    assert block["truncated"] == (block["returned"] < len(items))
