"""`make demo`: the product end to end on a simulated estate, in about a minute.

Starts Azurite and the fleet simulator (2,000 machines in 20 subscriptions by default),
fires the daily timer function as the Functions host would, runs the sweep and seven
virtual days of follow-up on the local Durable host, shows progress and the alerts a
Logic App would receive, and leaves the results in Azurite's folder for `show`.
"""
from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from arc_sweeper.tables import SweepStore
from local_stack.alert_receiver import AlertReceiver
from local_stack.clock import VirtualClock
from arc_sweeper.reporting.summary import print_lines, summary_lines
from local_stack.progress import ProgressPrinter
from local_stack.runner import LocalStack
from local_stack.simulator import FleetSimulator, FleetSpec, generate_fleet

DEMO_DIR = Path(".demo")
DEMO_PREFIX = "demo"


def run_demo(*, machines: int, subscriptions: int, seed: int, follow_up: str, poll_interval: str) -> int:
    started = time.monotonic()
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    (DEMO_DIR / "alerts").mkdir(parents=True)
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    fleet = generate_fleet(FleetSpec(seed=seed, machines=machines, subscriptions=subscriptions, now=now))
    clock = VirtualClock(now)
    progress = ProgressPrinter(clock)
    print(f"Simulated estate: {len(fleet.machines)} Arc machines in {len(fleet.subscriptions)} subscriptions "
          f"(seed {seed}); virtual clock starts {now:%Y-%m-%d %H:%M} UTC")
    with FleetSimulator(fleet, clock) as sim, AlertReceiver() as receiver:
        env = {
            "ARM_ENDPOINT": sim.base_url, "TABLE_PREFIX": DEMO_PREFIX, "TASKHUB_NAME": "demo",
            "LOGIC_APP_WEBHOOK_URL": receiver.url, "DRY_RUN": "false",
            "FOLLOW_UP_WINDOW": follow_up, "POLL_INTERVAL": poll_interval,
        }
        with LocalStack(env, clock=clock, azurite_location=str((DEMO_DIR / "azurite").resolve()),
                        on_progress=progress) as stack:
            print(f"Azurite, simulator ({sim.base_url}) and a local alert receiver are up; firing the daily timer.")
            stack.fire_timer()
            run_id = next(i.instance_id for i in stack.host.instances() if i.name == "sweep_orchestrator")
            final = stack.run_to_completion(run_id, timeout_s=900)
            store = SweepStore.from_connection_string(stack.storage_connection, DEMO_PREFIX)
            run = store.get_run(run_id)
        patches = [r for r in sim.requests if r.method == "PATCH"]
        statuses = Counter(r.status for r in patches)
        arg_requests = sum(1 for r in sim.requests if "resourcegraph" in r.path.lower())
        print()
        print_lines(summary_lines(run))
        print(f"Orchestration: {final.runtime_status}. Azure calls: {arg_requests} Resource Graph queries, "
              f"{len(patches)} PATCHes ({', '.join(f'{n} x {s}' for s, n in sorted(statuses.items()))}).")
        print()
        print("Alerts the Logic App received (full payloads in .demo/alerts/):")
        for index, payload in enumerate(receiver.payloads, 1):
            path = DEMO_DIR / "alerts" / f"{index}-{payload['kind']}.json"
            path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
            attention = payload["attention"]
            print(f"  {payload['kind']} [{payload['severity']}]: {payload['summary']}")
            print(f"    attention items: {attention['total']} (sent {attention['returned']}): "
                  + ", ".join(f"{k} {n}" for k, n in attention["byKind"].items() if n))
    print()
    print(f"Done in {time.monotonic() - started:.0f}s wall time. Results stay in Azurite's folder .demo/azurite:")
    print(f"  .venv/bin/python -m local_stack show {run_id}      # run summary and what needs attention")
    print(f"  .venv/bin/python -m local_stack show {run_id} --machines stuck   # machines with one outcome/finding")
    return 0 if final.runtime_status == "Completed" else 1
