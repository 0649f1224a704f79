"""`python -m local_stack sweep|show`: the sweep from a workstation, and reading results.

`sweep` runs the same orchestrations as the Functions app, through the local Durable
host, against any ARM endpoint: Azure by default (DefaultAzureCredential: `az login`,
environment or managed identity), a sovereign cloud, or a simulator on loopback (which
gets a development token that is never sent anywhere else). The clock is real: the
follow-up window really lasts that long, so choose a short one for a quick look.
"""
from __future__ import annotations

import argparse
from collections import Counter
import json
import os
import secrets
import sys
from datetime import datetime, timezone
from pathlib import Path

from arc_sweeper.durations import format_duration, parse_duration
from arc_sweeper.findings import FINDING_EXPLANATIONS, Finding
from arc_sweeper.messages import SweepRequest
from arc_sweeper.records import Outcome
from arc_sweeper.settings import Settings, SettingsError
from arc_sweeper.sweep import attention_items
from arc_sweeper.sweep_requests import GUID, on_demand_run_id
from arc_sweeper.tables import SweepStore
from local_stack.azurite import start_azurite
from local_stack.clock import RealClock
from local_stack.progress import ProgressPrinter, print_summary
from local_stack.runner import LocalStack

STATE_DIR = Path(".local-stack")


def _duration(text: str) -> str:
    try:
        return format_duration(parse_duration(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _subscriptions(text: str) -> tuple[str, ...]:
    items = tuple(s.strip().lower() for s in text.replace(";", ",").split(",") if s.strip())
    bad = [s for s in items if not GUID.match(s)]
    if bad:
        raise argparse.ArgumentTypeError(f"not a subscription GUID: {bad[0]!r}")
    return items


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--subscriptions", type=_subscriptions, default=(),
                        help="comma-separated subscription GUIDs (default: SUBSCRIPTION_ALLOW_LIST, else all visible)")
    parser.add_argument("--dry-run", action="store_true", help="classify and report; send no PATCH")
    parser.add_argument("--follow-up", type=_duration, help="follow-up window, e.g. P7D, 7d, 2h (default FOLLOW_UP_WINDOW)")
    parser.add_argument("--poll-interval", type=_duration, help="poll interval, e.g. PT12H, 12h, 30s (default POLL_INTERVAL)")
    parser.add_argument("--arm-endpoint", help="ARM endpoint (default ARM_ENDPOINT, else https://management.azure.com)")
    parser.add_argument("--json", metavar="FILE", help="write the run report as JSON to FILE ('-' for stdout)")


def run_sweep(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.arm_endpoint:
        env["ARM_ENDPOINT"] = args.arm_endpoint
    try:
        settings = Settings.from_env(env)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    storage = env.get("AzureWebJobsStorage") or None
    clock = RealClock()
    progress = ProgressPrinter(clock)
    run_id = on_demand_run_id(datetime.now(timezone.utc), secrets.token_hex(4), trigger="cli")
    request = SweepRequest(run_id, "cli", args.subscriptions, True if args.dry_run else None,
                           args.follow_up, args.poll_interval)
    print(f"Sweeping {settings.arm_endpoint} as run {run_id}; progress below (Ctrl-C stops).", file=sys.stderr)
    with LocalStack(env, clock=clock, storage_connection=storage,
                    azurite_location=None if storage else str((STATE_DIR / "azurite").resolve()),
                    on_progress=progress) as stack:
        stack.host.start_new("sweep_orchestrator", run_id, request.to_json())
        window = parse_duration(args.follow_up) if args.follow_up else settings.follow_up_window
        final = stack.run_to_completion(run_id, timeout_s=window.total_seconds() + 24 * 3600)
        store = SweepStore.from_connection_string(stack.storage_connection, settings.table_prefix)
        run = store.get_run(run_id)
        report = stack_report(store, run)
    print_summary(run, progress.polls_by_day, write=lambda line: print(line, file=sys.stderr))
    if args.json:
        text = json.dumps({"run": report, "orchestration": final.runtime_status}, indent=2, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text, encoding="utf-8")
    return 0 if final.runtime_status == "Completed" else 1


def stack_report(store: SweepStore, run) -> dict:
    from arc_sweeper.runtime import sweeper

    rows = list(store.all_machines(run.run_id))
    return sweeper().report(run, rows, store.subscriptions(run.run_id)).to_json()


def show(args: argparse.Namespace) -> int:
    """Print a run (default: the newest) from the tables the demo or `sweep` left behind."""
    location = Path(args.location).resolve()
    if not location.exists():
        print(f"No results at {location}: run `make demo` first.", file=sys.stderr)
        return 2
    with start_azurite(in_memory=False, location=str(location)) as azurite:
        store = SweepStore.from_connection_string(azurite.connection_string, args.prefix)
        runs = sorted((r for status in ("completed", "following", "running", "failed")
                       for r in store.runs_with_status(status)), key=lambda r: r.started_at)
        run = store.get_run(args.run_id) if args.run_id else (runs[-1] if runs else None)
        if run is None:
            print("No such run. Known runs: " + ", ".join(r.run_id for r in runs), file=sys.stderr)
            return 2
        print_summary(run)
        print("What the findings mean:")
        for finding in Finding:
            if run.finding_counts.get(finding.value):
                print(f"  {finding.value}: {FINDING_EXPLANATIONS[finding]}")
        rows = list(store.all_machines(run.run_id))
        skipped = [s for s in store.subscriptions(run.run_id) if not s.in_scope]
    attention = attention_items(rows, skipped)
    print(f"Needing attention: {len(attention)} "
          f"({', '.join(f'{kind} {n}' for kind, n in Counter(i.kind for i in attention).items())})")
    for item in attention[: args.limit]:
        print(f"  {item.kind:<22} {item.name:<40} {(item.code + ' ' + item.message).strip()[:100]}")
    if args.machines:
        wanted = args.machines
        chosen = [r for r in rows if wanted in (r.outcome, r.action, r.action_result) or wanted in r.findings]
        print(f"Machines with {wanted!r}: {len(chosen)}")
        for r in chosen[: args.limit]:
            detail = r.arm_error_code or r.last_attempt_message or r.outcome_detail
            print(f"  {r.resource_id}\n      agent {r.agent_version_seen or '?'} -> {r.agent_version_now or '-'}, "
                  f"{r.outcome or r.action_result}: {detail[:160]}")
    else:
        print(f"Filter machines with --machines <outcome|finding|action|result>, e.g. --machines {Outcome.STUCK}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="the product end to end on a simulated estate (make demo)")
    demo.add_argument("--machines", type=int, default=2000)
    demo.add_argument("--subscriptions", type=int, default=20)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--follow-up", type=_duration, default="P7D")
    demo.add_argument("--poll-interval", type=_duration, default="PT12H")

    sweep = commands.add_parser("sweep", help="run one sweep now against ARM_ENDPOINT (real clock)")
    add_sweep_arguments(sweep)

    show_cmd = commands.add_parser("show", help="print a run left in a local Azurite folder")
    show_cmd.add_argument("run_id", nargs="?")
    show_cmd.add_argument("--machines", help="list machines with this outcome, finding, action or result")
    show_cmd.add_argument("--limit", type=int, default=25)
    show_cmd.add_argument("--location", default=".demo/azurite", help="Azurite folder (default .demo/azurite)")
    show_cmd.add_argument("--prefix", default="demo", help="TABLE_PREFIX used by that run (default demo)")

    args = parser.parse_args(argv)
    if args.command == "demo":
        from local_stack.demo import run_demo

        return run_demo(machines=args.machines, subscriptions=args.subscriptions, seed=args.seed,
                        follow_up=args.follow_up, poll_interval=args.poll_interval)
    if args.command == "sweep":
        return run_sweep(args)
    return show(args)
