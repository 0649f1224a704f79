"""The on-demand request body, run ids and scope overlap."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from arc_sweeper.leases import overlaps
from arc_sweeper.settings import Settings
from arc_sweeper.sweep_requests import (
    BadSweepRequest,
    check_timing,
    daily_run_id,
    is_run_id,
    on_demand_run_id,
    parse_sweep_body,
)

SUB = "0B1F6471-1BF0-4DDA-AEC3-CB9272F09590"
AZURE = Settings.from_env({})
LOOPBACK = Settings.from_env({"ARM_ENDPOINT": "http://127.0.0.1:9000"})


def test_empty_body_means_all_defaults():
    request = parse_sweep_body(b"", "http-x")
    assert (request.subscriptions, request.dry_run, request.follow_up_window) == ((), None, None)
    assert request.trigger == "http"


def test_full_body_is_normalised():
    body = json.dumps(
        {"subscriptions": [SUB, SUB.lower()], "dryRun": True, "followUpWindow": "3d", "pollInterval": "PT6H"}
    ).encode()
    request = parse_sweep_body(body, "http-x")
    assert request.subscriptions == (SUB.lower(),)
    assert (request.dry_run, request.follow_up_window, request.poll_interval) == (True, "P3D", "PT6H")


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"subscription": []}', "unknown field(s) subscription"),
        (b'{"subscriptions": "abc"}', "must be a list"),
        (b'{"subscriptions": ["not-a-guid"]}', "must be GUIDs"),
        (b'{"dryRun": "yes"}', "dryRun must be true or false"),
        (b'{"followUpWindow": "soon"}', "followUpWindow"),
        (b'{"followUpWindow": 7}', "duration string"),
        (b"\xff\xfe", "not valid JSON"),
        (json.dumps({"subscriptions": [SUB] * 1001}).encode(), "at most 1000 subscriptions"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"subscriptions": [' + b" " * 300_000 + b"]}", "larger than 256 KiB"),
        (b'{"followUpWindow": "P999999999D"}', "must be at most P30D"),
        (b'{"followUpWindow": "P31D"}', "followUpWindow=P31D: must be at most P30D"),
        (b'{"pollInterval": "PT1S"}', "pollInterval=PT1S: must be at least PT15M"),
        (b'{"pollInterval": "P7D", "followUpWindow": "P30D"}', "pollInterval=P7D: must be at most P6D"),
        (b'{"pollInterval": "P2D", "followUpWindow": "P1D"}', "must be shorter than followUpWindow=P1D"),
    ],
)
def test_bad_bodies_say_why(body, reason):
    with pytest.raises(BadSweepRequest) as error:
        check_timing(parse_sweep_body(body, "http-x"), AZURE)
    assert reason in str(error.value)


def test_run_ids():
    assert daily_run_id(date(2026, 11, 26)) == "daily-2026-11-26"
    run_id = on_demand_run_id(datetime(2026, 11, 26, 10, 5, 7, tzinfo=UTC), "a1b2c3d4e5")
    assert run_id == "http-20261126T100507Z-a1b2c3d4"
    assert is_run_id(run_id) and is_run_id("daily-2026-11-26")
    assert not is_run_id("../etc") and not is_run_id("x/y") and not is_run_id("")
    assert not is_run_id(run_id + "\n") and not is_run_id(" " + run_id)  # matched in full


@pytest.mark.parametrize(
    "a, b, overlap",
    [
        ((), (SUB,), True),
        ((SUB,), (), True),
        ((SUB,), (SUB.lower(),), True),
        ((SUB,), ("11111111-1111-1111-1111-111111111111",), False),
    ],
)
def test_scope_overlap(a, b, overlap):
    assert overlaps(a, b) is overlap


def test_a_short_poll_interval_only_against_a_loopback_endpoint():
    body = json.dumps({"followUpWindow": "4s", "pollInterval": "2s"}).encode()
    request = parse_sweep_body(body, "http-x")
    check_timing(request, LOOPBACK)
    assert request.poll_interval == "PT2S"
    with pytest.raises(BadSweepRequest, match="at least PT15M"):
        check_timing(request, AZURE)


def test_a_window_alone_caps_the_default_interval_later_instead_of_failing():
    request = parse_sweep_body(json.dumps({"followUpWindow": "PT6H"}).encode(), "http-x")
    check_timing(request, AZURE)
    assert (request.follow_up_window, request.poll_interval) == ("PT6H", None)
