"""`make demo`: a week of the product on a simulated estate, in a minute or so.

Starts Azurite and the fleet simulator (1,200 machines in 12 subscriptions by default, and a
week that changes: machines onboarded, disconnected ones coming back, a new agent release
shipping mid-week), then fires the daily timer function at the schedule's time on each day of
a simulated week, as the Functions host would, on one virtual clock: day 1 enables the
backlog; later days find what changed and act only on that, while earlier runs' follow-ups go
on alongside. The week ends when the first day's follow-up does. Prints progress, the week's
sweeps, the first run in full, the alerts a Logic App would receive and the estate's trend per
day; writes the first run's HTML report to .demo/report.html and leaves the tables in
Azurite's folder for `show`.
"""
from __future__ import annotations

import json
import shutil
import time
from collections import Counter
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
from local_stack.simulator import FleetSimulator, FleetSpec, generate_fleet

DEMO_DIR = Path(".demo")
DEMO_PREFIX = "demo"
SWEEP_TIME = time_of_day(3, 30)
"""When the daily timer fires: the default SWEEP_SCHEDULE, `0 30 3 * * *`."""
CHANGES = {"onboard_share": 0.03, "reconnect_share": 0.3, "release_after": timedelta(days=3, hours=12)}
"""What happens during the week (simulator.FleetSpec): 3% more machines, 30% of the disconnected back, 1.68 ships."""


def run_demo(*, machines: int, subscriptions: int, seed: int, follow_up: str, poll_interval: str,
             days: int = 7) -> int:
    started = time.monotonic()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    (DEMO_DIR / "alerts").mkdir(parents=True)
    first_sweep = datetime.combine(datetime.now(UTC).date(), SWEEP_TIME, UTC)
    now = first_sweep - timedelta(hours=1)
    fleet = generate_fleet(FleetSpec(seed=seed, machines=machines, subscriptions=subscriptions, now=now,
                                     changes_within=timedelta(days=days), **CHANGES))
    clock = VirtualClock(now)
    progress = ProgressPrinter(clock)
    arriving = sum(1 for m in fleet.machines if m.onboard_at)
    print(f"Simulated estate: {len(fleet.machines) - arriving} Arc machines in {len(fleet.subscriptions)} "
          f"subscriptions (seed {seed}); during the week {arriving} more are onboarded, "
          f"{sum(1 for m in fleet.machines if m.reconnect_at)} disconnected ones come back and agent 1.68 ships "
          f"(the release catalogue ends at 1.67). Virtual clock starts {now:%a %d %b %Y %H:%M} UTC.")
    with FleetSimulator(fleet, clock) as sim, AlertReceiver() as receiver:
        env = {
            "ARM_ENDPOINT": sim.base_url, "TABLE_PREFIX": DEMO_PREFIX, "TASKHUB_NAME": "demo",
            "LOGIC_APP_WEBHOOK_URL": receiver.url, "DRY_RUN": "false",
            "FOLLOW_UP_WINDOW": follow_up, "POLL_INTERVAL": poll_interval,
            "SWEEP_SCHEDULE": f"0 {SWEEP_TIME.minute} {SWEEP_TIME.hour} * * *",
        }
        with LocalStack(env, clock=clock, azurite_location=str((DEMO_DIR / "azurite").resolve()),
                        on_progress=progress) as stack:
            print(f"Azurite, simulator ({sim.base_url}) and a local alert receiver are up.")
            run_ids = []
            for day in range(days):
                moment = first_sweep + timedelta(days=day)
                stack.host.run_until_time(moment, timeout_s=600)
                print(f"=== Day {day + 1}, {moment:%a %d %b %H:%M} UTC: the daily timer fires ===", flush=True)
                stack.fire_timer()
                run_ids.append(f"daily-{moment:%Y-%m-%d}")
            final = stack.run_to_completion(run_ids[0], timeout_s=600)
            store = SweepStore.from_connection_string(stack.storage_connection, DEMO_PREFIX)
            week = [store.get_run(run_id) for run_id in run_ids]
            page = load_page(store, run_ids[0], generated_at=iso(utc_now()))
        assert page is not None and all(week), "every day's run has its row"
        report = DEMO_DIR / "report.html"
        report.write_text(render_page(page), encoding="utf-8")
        patches = Counter(r.status for r in sim.requests if r.method == "PATCH")
        arg_requests = sum(1 for r in sim.requests if "resourcegraph" in r.path.lower())
        print()
        print_lines(_week_lines(week))
        print()
        print_lines(summary_lines(week[0]))
        print(f"Azure calls over the week: {arg_requests} Resource Graph queries, {sum(patches.values())} PATCHes "
              f"({', '.join(f'{n} x {s}' for s, n in sorted(patches.items()))}).")
        print()
        print(f"Alerts the Logic App received ({len(receiver.payloads)}; full payloads in .demo/alerts/):")
        for index, payload in enumerate(receiver.payloads, 1):
            path = DEMO_DIR / "alerts" / f"{index}-{payload['runId']}-{payload['kind']}.json"
            path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
            print(f"  {payload['kind']} [{payload['severity']}]: {payload['summary']}")
    print()
    print("The estate's trend per day (from the runs and fleet tables, as in the report):")
    print(f"  {'day':<10}  {'machines':>8}  {'new':>4}  {'compliant':>9}  {'enabled':>7}  {'failing':>7}  {'stuck':>5}")
    for day, _, seen, new, _, share, enabled, failing, stuck in page.trend.rows:
        print(f"  {day:<10}  {seen:>8}  {new:>4}  {share:>9}  {enabled:>7}  {failing:>7}  {stuck:>5}")
    print()
    print(f"Done in {time.monotonic() - started:.0f}s wall time. The first run's HTML report (its whole follow-up, "
          f"the week's trend): {report}")
    print(f"Tables in Azurite's folder .demo/azurite: .venv/bin/python -m local_stack show {run_ids[-1]} "
          f"[--machines stuck] [--html FILE]")
    return 0 if final.runtime_status == "Completed" else 1


def _week_lines(week: list[RunRecord]) -> list[str]:
    """One line per day's run: what it saw, did and has seen since."""
    lines = ["The week's daily sweeps:"]
    for run in week:
        outcomes = ", ".join(f"{name} {n}" for name, n in run.outcome_counts.items() if n)
        lines.append(f"  {run.run_id} ({run.status}): {run.machines_seen} machines seen, enabled "
                     f"{run.result_counts.get('enabled', 0)}, refused {run.result_counts.get('failed', 0)}"
                     + (f"; follow-up: {outcomes}" if outcomes else ""))
    return lines
