"""Turning triggers into sweep requests: run ids and HTTP body validation."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from arc_sweeper.durations import format_duration, parse_duration
from arc_sweeper.endpoints import is_loopback_url
from arc_sweeper.messages import SweepRequest
from arc_sweeper.setting_values import follow_up_timing_problems
from arc_sweeper.settings import Settings
from arc_sweeper.text import clip, is_guid
from arc_sweeper.vocabulary import Trigger

RUN_ID = re.compile(r"[a-z]+-[0-9A-Za-z-]{1,64}")
BODY_FIELDS = {"subscriptions", "dryRun", "followUpWindow", "pollInterval"}
MAX_REQUESTED_SUBSCRIPTIONS = 1000
"""As many as Resource Graph and the Azure CLI take in one request scope."""
MAX_BODY_BYTES = 256 * 1024
"""A thousand subscription ids with spaces to spare; anything larger is not a sweep request."""


class BadSweepRequest(ValueError):
    """The reason an on-demand sweep request was refused (safe to show the caller)."""


def daily_run_id(day: date) -> str:
    """One id per day: a second firing of the timer finds the first run and starts nothing."""
    return f"daily-{day.isoformat()}"


def on_demand_run_id(now: datetime, nonce: str, trigger: Trigger = Trigger.HTTP) -> str:
    return f"{trigger}-{now.strftime('%Y%m%dT%H%M%SZ')}-{nonce[:8]}"


def is_run_id(text: str) -> bool:
    return RUN_ID.fullmatch(text) is not None


def parse_sweep_body(body: bytes, run_id: str) -> SweepRequest:
    """Validate the body of `POST /api/sweeps`; every field is optional (see also `check_timing`)."""
    if len(body) > MAX_BODY_BYTES:
        raise BadSweepRequest(f"body is larger than {MAX_BODY_BYTES // 1024} KiB")
    if not body.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(body)
        except RecursionError:
            raise BadSweepRequest("body is nested too deeply to be a sweep request") from None
        except (UnicodeDecodeError, ValueError) as error:
            raise BadSweepRequest(f"body is not valid JSON: {clip(str(error), 200)}") from None
    if not isinstance(data, dict):
        raise BadSweepRequest("body must be a JSON object")
    unknown = sorted(set(data) - BODY_FIELDS)
    if unknown:
        raise BadSweepRequest(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(BODY_FIELDS))}")
    subscriptions = data.get("subscriptions", [])
    if not isinstance(subscriptions, list) or not all(isinstance(s, str) for s in subscriptions):
        raise BadSweepRequest("subscriptions must be a list of subscription ids")
    if len(subscriptions) > MAX_REQUESTED_SUBSCRIPTIONS:
        raise BadSweepRequest(
            f"at most {MAX_REQUESTED_SUBSCRIPTIONS} subscriptions per request; "
            "use SUBSCRIPTION_ALLOW_LIST or omit the list to sweep everything"
        )
    bad = [s for s in subscriptions if not is_guid(s)]
    if bad:
        raise BadSweepRequest(f"subscriptions must be GUIDs, got {bad[0][:60]!r}")
    dry_run = data.get("dryRun")
    if dry_run is not None and not isinstance(dry_run, bool):
        raise BadSweepRequest("dryRun must be true or false")
    durations = {}
    for name in ("followUpWindow", "pollInterval"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadSweepRequest(f"{name} must be a duration string such as P7D, PT12H, 7d or 12h")
        try:
            durations[name] = format_duration(parse_duration(value))
        except ValueError as error:
            raise BadSweepRequest(f"{name}: {error}") from None
    return SweepRequest(
        run_id=run_id,
        trigger=Trigger.HTTP,
        subscriptions=tuple(dict.fromkeys(s.lower() for s in subscriptions)),
        dry_run=dry_run,
        follow_up_window=durations.get("followUpWindow"),
        poll_interval=durations.get("pollInterval"),
    )


def check_timing(request: SweepRequest, settings: Settings) -> None:
    """The request's durations within the bounds the settings have: a follow-up window of at most
    P30D, a poll interval from PT15M (shorter only against a loopback endpoint) to P6D."""
    window = parse_duration(request.follow_up_window) if request.follow_up_window else settings.follow_up_window
    interval = parse_duration(request.poll_interval) if request.poll_interval else None
    problems = follow_up_timing_problems(
        window, interval, loopback=is_loopback_url(settings.arm_endpoint), names=("followUpWindow", "pollInterval")
    )
    if problems:
        raise BadSweepRequest("; ".join(problems))
