"""`make demo`: a week of the product on a simulated estate, in a minute or two.

Starts Azurite and the fleet simulator (900 machines in 12 subscriptions by default, and a
week that changes: machines onboarded, disconnected ones coming back, a new agent release
shipping mid-week), then fires the daily timer function at the schedule's time on each day of
a simulated week, as the Functions host would, on one virtual clock. The estate is rolled out
in three rings of subscriptions (RING_SUBSCRIPTIONS, see `RING_SETTINGS`): day 1 enables ring
0's backlog and defers the others; a ring opens once the ring before it soaked and passed its
health gate, or is held (an attention item in the digest) when it did not. Machine extensions
are enabled too (EXTENSION_UPGRADE_MODE=enable) and followed with their machines. Later days
find what changed and act only on that, while earlier runs' follow-ups go on alongside. The
week ends when the first day's follow-up does. Prints progress, each day's sweep and what
happened to the rings (GET /api/rings), the week's sweeps, the first run in full, the alerts a
Logic App would receive and the estate's trend per day; writes the first run's HTML report to
.demo/report.html and leaves the tables in Azurite's folder for `show`.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path

from arc_sweeper.clock import utc_now
from arc_sweeper.records import RunRecord
from arc_sweeper.reporting.page import load_page, render_page
from arc_sweeper.reporting.summary import print_lines, summary_lines
from arc_sweeper.tables import SweepStore
from arc_sweeper.timefmt import iso
from local_stack.alert_receiver import AlertReceiver
from local_stack.clock import VirtualClock
from local_stack.progress import ProgressPrinter
from local_stack.runner import LocalStack
from local_stack.simulator import Fleet, FleetSimulator, FleetSpec, agents, generate_fleet

DEMO_DIR = Path(".demo")
DEMO_PREFIX = "demo"
SWEEP_TIME = time_of_day(3, 30)
"""When the daily timer fires: the default SWEEP_SCHEDULE, `0 30 3 * * *`."""
CHANGES = {"onboard_share": 0.03, "reconnect_share": 0.3, "release_after": timedelta(days=3, hours=12)}
"""What happens during the week (simulator.FleetSpec): 3% more machines, 30% of the disconnected back, 1.68 ships."""
RING_SETTINGS = {"RING_SOAK": "PT60H", "RING_MIN_SUCCESS": "0.8", "RING_MAX_FAILURE": "0.2", "RING_MIN_SAMPLE": "10"}
"""The staged rollout's gate: a ring soaks two and a half days, so the next ring is judged by the third daily sweep
after it opened (half a day from any sweep: never a sub-second race with the timer), on two daily follow-up checks,
when upgrades that fail have had time to fail; then at least 80% of the ring's settled machines upgraded (or were up
to date) and at most 20% are failing or stuck, judged on at least 10 settled machines. The simulated estate fails
15% of first attempts (FleetSpec.failure_share), so with the default estate (seed 7) ring 1 opens on day 4 (ring 0:
4% failing) and ring 2 on day 7 (ring 1: 3% failing); `--failing-ring 1` holds ring 2 instead."""
FAILING_RING_SHARE = 0.5
"""With `--failing-ring N`, this share of ring N's machines fail every upgrade attempt (the agent's STUCK)."""
ENABLING_DONE = timedelta(hours=1)
"""How long after the timer the day's enabling is over (a few virtual seconds here), to report the day at once."""


def ring_layout(subscription_ids: list[str]) -> list[list[str]]:
    """Three rings of subscriptions, in the estate's order: ring 0 a sixth (at least one), ring 1 a quarter, ring 2
    the rest (the special subscriptions, generated last, all fall in ring 2)."""
    first = max(1, round(len(subscription_ids) / 6))
    second = first + max(1, round(len(subscription_ids) / 4))
    return [subscription_ids[:first], subscription_ids[first:second], subscription_ids[second:]]


def fail_upgrades_in(fleet: Fleet, subscription_ids: list[str], share: float, seed: int) -> int:
    """Make `share` of the machines of these subscriptions fail every upgrade attempt; returns how many."""
    members = set(subscription_ids)
    chosen = [m for m in fleet.machines if m.subscription_id in members]
    doomed = random.Random(f"failing-ring:{seed}").sample(chosen, round(len(chosen) * share))
    for machine in doomed:
        machine.behaviour = replace(machine.behaviour, outcome=agents.STUCK)
    return len(doomed)


def run_demo(
    *,
    machines: int,
    subscriptions: int,
    seed: int,
    follow_up: str,
    poll_interval: str,
    days: int = 7,
    failing_ring: int | None = None,
) -> int:
    started = time.monotonic()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    (DEMO_DIR / "alerts").mkdir(parents=True)
    first_sweep = datetime.combine(datetime.now(UTC).date(), SWEEP_TIME, UTC)
    now = first_sweep - timedelta(hours=1)
    fleet = generate_fleet(
        FleetSpec(
            seed=seed,
            machines=machines,
            subscriptions=subscriptions,
            now=now,
            changes_within=timedelta(days=days),
            **CHANGES,
        )
    )
    clock = VirtualClock(now)
    progress = ProgressPrinter(clock)
    arriving = sum(1 for m in fleet.machines if m.onboard_at)
    rings = ring_layout([sub.subscription_id for sub in fleet.subscriptions])
    names = {sub.subscription_id: sub.display_name for sub in fleet.subscriptions}
    if failing_ring is not None and not 0 <= failing_ring < len(rings):
        raise ValueError(f"--failing-ring must be one of 0..{len(rings) - 1}, got {failing_ring}")
    failing = 0 if failing_ring is None else fail_upgrades_in(fleet, rings[failing_ring], FAILING_RING_SHARE, seed)
    print(
        f"Simulated estate: {len(fleet.machines) - arriving} Arc machines in {len(fleet.subscriptions)} "
        f"subscriptions (seed {seed}); during the week {arriving} more are onboarded, "
        f"{sum(1 for m in fleet.machines if m.reconnect_at)} disconnected ones come back and agent 1.68 ships "
        f"(the release catalogue ends at 1.67). Virtual clock starts {now:%a %d %b %Y %H:%M} UTC."
    )
    gate = ", ".join(f"{name}={value}" for name, value in RING_SETTINGS.items())
    print(f"Staged rollout by subscription (RING_SUBSCRIPTIONS), {gate}:")
    for ring, members in enumerate(rings):
        machines_in = sum(1 for m in fleet.machines if m.subscription_id in members and not m.onboard_at)
        print(
            f"  ring {ring}: {len(members)} subscriptions, {machines_in} machines "
            f"({', '.join(names[s] for s in members)})"
        )
    if failing_ring is not None:
        print(
            f"  --failing-ring {failing_ring}: {failing} of ring {failing_ring}'s machines fail every upgrade attempt."
        )
    print(
        "Machine extensions: EXTENSION_UPGRADE_MODE=enable (supported types whose automatic upgrade is off "
        "are PATCHed)."
    )
    with FleetSimulator(fleet, clock) as sim, AlertReceiver() as receiver:
        env = {
            "ARM_ENDPOINT": sim.base_url,
            "TABLE_PREFIX": DEMO_PREFIX,
            "TASKHUB_NAME": "demo",
            "LOGIC_APP_WEBHOOK_URL": receiver.url,
            "DRY_RUN": "false",
            "FOLLOW_UP_WINDOW": follow_up,
            "POLL_INTERVAL": poll_interval,
            "SWEEP_SCHEDULE": f"0 {SWEEP_TIME.minute} {SWEEP_TIME.hour} * * *",
            "RING_SUBSCRIPTIONS": ";".join(f"{ring}={','.join(members)}" for ring, members in enumerate(rings)),
            **RING_SETTINGS,
            "EXTENSION_UPGRADE_MODE": "enable",
        }
        with LocalStack(
            env, clock=clock, azurite_location=str((DEMO_DIR / "azurite").resolve()), on_progress=progress
        ) as stack:
            print(f"Azurite, simulator ({sim.base_url}) and a local alert receiver are up.")
            store = SweepStore.from_connection_string(stack.storage_connection, DEMO_PREFIX)
            run_ids = []
            ring_days: list[tuple[str, list[dict]]] = []
            for day in range(days):
                moment = first_sweep + timedelta(days=day)
                stack.host.run_until_time(moment, timeout_s=600)
                print(f"=== Day {day + 1}, {moment:%a %d %b %H:%M} UTC: the daily timer fires ===", flush=True)
                stack.fire_timer()
                run_ids.append(f"daily-{moment:%Y-%m-%d}")
                stack.host.run_until_time(moment + ENABLING_DONE, timeout_s=600)
                today = store.get_run(run_ids[-1])
                assert today is not None, "the day's run has its row"
                ring_answer = json.loads(stack.get_rings().get_body())
                print_lines(_day_lines(today, ring_answer["rings"], ring_days[-1][1] if ring_days else []))
                ring_days.append((f"{moment:%Y-%m-%d}", ring_answer["rings"]))
            final = stack.run_to_completion(run_ids[0], timeout_s=600)
            week = [store.get_run(run_id) for run_id in run_ids]
            page = load_page(store, run_ids[0], generated_at=iso(utc_now()))
        assert page is not None and all(week), "every day's run has its row"
        report = DEMO_DIR / "report.html"
        report.write_text(render_page(page), encoding="utf-8")
        patches = Counter(r.status for r in sim.requests if r.method == "PATCH" and "/extensions/" not in r.path)
        extension_patches = Counter(r.status for r in sim.requests if r.method == "PATCH" and "/extensions/" in r.path)
        ring_of = {sub.lower(): ring for ring, members in enumerate(rings) for sub in members}
        by_ring = Counter(
            (ring_of[r.path.split("/")[2].lower()], "/extensions/" in r.path)
            for r in sim.requests
            if r.method == "PATCH"
        )
        arg_requests = sum(1 for r in sim.requests if "resourcegraph" in r.path.lower())
        print()
        print_lines(_week_lines(week))
        print()
        print_lines(_ring_table(ring_days))
        print()
        print_lines(summary_lines(week[0]))
        print(
            f"Azure calls over the week: {arg_requests} Resource Graph queries, "
            f"{sum(patches.values())} machine PATCHes ({_statuses(patches)}), "
            f"{sum(extension_patches.values())} extension PATCHes ({_statuses(extension_patches)})."
        )
        print(
            "PATCHes per ring (machines + extensions): "
            + ", ".join(f"ring {ring} {by_ring[ring, False]} + {by_ring[ring, True]}" for ring in range(len(rings)))
            + "."
        )
        print()
        print(f"Alerts the Logic App received ({len(receiver.payloads)}; full payloads in .demo/alerts/):")
        for index, payload in enumerate(receiver.payloads, 1):
            path = DEMO_DIR / "alerts" / f"{index}-{payload['runId']}-{payload['kind']}.json"
            path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
            print(f"  {payload['kind']} [{payload['severity']}]: {payload['summary']}")
            for item in payload.get("attention", {}).get("items", []):
                if item["kind"] == "ring_held":
                    print(f"    ring_held: {item['name']}: {_short_times(item['message'])}")
    print()
    print("The estate's trend per day (from the runs and fleet tables, as in the report):")
    print(f"  {'day':<10}  {'machines':>8}  {'new':>4}  {'compliant':>9}  {'enabled':>7}  {'failing':>7}  {'stuck':>5}")
    for day, _, seen, new, _, share, enabled, failing, stuck in page.trend.rows:
        print(f"  {day:<10}  {seen:>8}  {new:>4}  {share:>9}  {enabled:>7}  {failing:>7}  {stuck:>5}")
    print()
    print(
        f"Done in {time.monotonic() - started:.0f}s wall time. The first run's HTML report (its whole follow-up, "
        f"the week's trend): {report}"
    )
    print(
        f"Tables in Azurite's folder .demo/azurite: .venv/bin/python -m local_stack show {run_ids[-1]} "
        f"[--machines stuck] [--html FILE]"
    )
    return 0 if final.runtime_status == "Completed" else 1


def _short_times(text: str) -> str:
    """Timestamps in a decision to the minute: 2026-11-30T03:30:00.112987Z -> 2026-11-30 03:30."""
    return re.sub(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d):\d\d(?:\.\d+)?Z", r"\1 \2", text)


def _statuses(counts: Counter[int]) -> str:
    return ", ".join(f"{n} x {status}" for status, n in sorted(counts.items())) or "none"


def _enable_counts(counts: dict[str, int]) -> str:
    return ", ".join(
        f"{label} {counts.get(key, 0)}"
        for key, label in (("enabled", "enabled"), ("deferred", "deferred"), ("failed", "refused"))
    )


def _day_lines(run: RunRecord, rings: list[dict], before: list[dict]) -> list[str]:
    """What the day's sweep did and where each ring stands after it (GET /api/rings)."""
    was = {r["ring"]: r["state"] for r in before}
    lines = [
        f"  {run.run_id}: {run.machines_seen} machines seen; machines {_enable_counts(run.result_counts)}; "
        f"extensions {_enable_counts(run.extension_result_counts)}"
    ]
    for r in rings:
        if r["state"] == "open" and was.get(r["ring"]) == "open":
            lines.append(f"  ring {r['ring']}: open since {_short_times(r['opened_at'])}")
        elif r["state"] == "open":
            lines.append(f"  ring {r['ring']}: opens: {_short_times(r['decision'])}")
        else:
            lines.append(
                f"  ring {r['ring']}: {r['state'].upper() if r['state'] == 'held' else r['state']}: "
                f"{_short_times(r['decision'])}"
            )
    return lines


def _ring_table(ring_days: list[tuple[str, list[dict]]]) -> list[str]:
    """Each ring's state after each day's sweep."""
    rings = sorted({r["ring"] for _, answer in ring_days for r in answer})
    lines = [
        "The rings after each day's sweep (GET /api/rings):",
        f"  {'day':<10}  " + "  ".join(f"{'ring ' + str(ring):<8}" for ring in rings),
    ]
    for day, answer in ring_days:
        state = {r["ring"]: r["state"] for r in answer}
        lines.append(f"  {day:<10}  " + "  ".join(f"{state.get(ring, '-'):<8}" for ring in rings))
    return lines


def _week_lines(week: list[RunRecord]) -> list[str]:
    """One line per day's run: what it saw, did and has seen since."""
    lines = ["The week's daily sweeps:"]
    for run in week:
        outcomes = ", ".join(f"{name} {n}" for name, n in run.outcome_counts.items() if n)
        ext_outcomes = ", ".join(f"{name} {n}" for name, n in run.extension_outcome_counts.items() if n)
        lines.append(
            f"  {run.run_id} ({run.status}): {run.machines_seen} machines seen, enabled "
            f"{run.result_counts.get('enabled', 0)}, deferred {run.result_counts.get('deferred', 0)}, "
            f"refused {run.result_counts.get('failed', 0)}; extensions enabled "
            f"{run.extension_result_counts.get('enabled', 0)}"
            + (f"; follow-up: {outcomes}" if outcomes else "")
            + (f"; extensions: {ext_outcomes}" if ext_outcomes else "")
        )
    return lines
