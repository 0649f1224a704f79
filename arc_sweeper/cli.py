"""`python -m arc_sweeper sweep|status|show`: the product's steps from an operator's workstation.

`sweep` discovers and classifies now, enables automatic upgrade only with `--apply`
(a dry run otherwise; DRY_RUN=true and PUBLIC_CLOUD_ONLY still win), prints the report
and exits. Following the agents takes days: `status RUN_ID` re-reads the run's cohort
once and records what it sees (and closes the run once every machine settled or its
follow-up window passed); the deployed Functions app does the same on its own timer.
`show` prints a run and what needs attention (`--html FILE` also writes its HTML report).

Settings come from the environment as in the Functions app (ARM_ENDPOINT, TABLE_PREFIX,
...); results go to the Table Storage of AzureWebJobsStorage (or its identity-based
settings). Credentials: DefaultAzureCredential (az login, environment, managed identity).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from arc_sweeper.clock import utc_now
from arc_sweeper.durations import format_duration, parse_duration
from arc_sweeper.messages import CheckCohort, DiscoverBatch, EnableChunk, PhaseEnd, StartRun, SweepRequest, Tally
from arc_sweeper.records import RunRecord
from arc_sweeper.reporting.attention import AttentionDigest, attention_items
from arc_sweeper.reporting.page import load_page, render_page
from arc_sweeper.reporting.report import build_report
from arc_sweeper.reporting.summary import attention_lines, finding_lines, print_lines, summary_lines
from arc_sweeper.runtime import Steps, steps
from arc_sweeper.settings import SettingsError
from arc_sweeper.sweep_requests import on_demand_run_id
from arc_sweeper.text import is_guid
from arc_sweeper.timefmt import iso, parse_timestamp
from arc_sweeper.vocabulary import RunStatus, Target, Trigger

Clock = Callable[[], datetime]


def sweep_now(app: Steps, request: SweepRequest, now: str) -> RunRecord:
    """Start, discover and enable, one step after another (what the orchestration does in parallel)."""
    plan = app.scope.start_run(StartRun(request, now))
    for batch in range(plan.batch_count):
        result = app.discovery.discover_batch(DiscoverBatch(plan.run_id, batch, now))
        for work in result.work:
            for chunk in range(work.chunks):
                app.enabling.enable_chunk(EnableChunk(plan.run_id, work.subscription_id, chunk, plan.dry_run, now))
            for chunk in range(work.extension_chunks):
                app.enabling.enable_chunk(
                    EnableChunk(plan.run_id, work.subscription_id, chunk, plan.dry_run, now, target=Target.EXTENSIONS)
                )
    app.closing.finish_enabling(PhaseEnd(plan.run_id, now))
    return _run(app, plan.run_id)


def check_once(app: Steps, run_id: str, now: datetime) -> Tally:
    """One follow-up check of the run's cohort; closes the run when nothing is left to wait for."""
    run = _run(app, run_id)
    batches = sorted(
        {
            s.batch_index
            for s in app.store.subscriptions(run_id)
            if s.in_scope and (s.to_enable or s.extensions_to_enable)
        }
    )
    tally = Tally.merged([app.follow_up.check_cohort(CheckCohort(run_id, b, iso(now))).tally for b in batches])
    ended = parse_timestamp(run.enabling_ended_at)
    deadline = ended + parse_duration(run.follow_up_window) if ended and run.follow_up_window else now
    if run.status == RunStatus.FOLLOWING and (tally.unsettled == 0 or now >= deadline):
        app.closing.finish_run(PhaseEnd(run_id, iso(now)))
    return tally


def _run(app: Steps, run_id: str) -> RunRecord:
    run = app.store.get_run(run_id)
    if run is None:
        raise LookupError(f"no run {run_id!r} in the {app.settings.table_prefix}runs table")
    return run


def duration_argument(text: str) -> str:
    try:
        return format_duration(parse_duration(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _subscriptions(text: str) -> tuple[str, ...]:
    items = tuple(s.strip().lower() for s in text.replace(";", ",").split(",") if s.strip())
    bad = [s for s in items if not is_guid(s)]
    if bad:
        raise argparse.ArgumentTypeError(f"not a subscription GUID: {bad[0]!r}")
    return items


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m arc_sweeper", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep", help="discover, classify and (with --apply) enable now, then exit")
    sweep.add_argument(
        "--subscriptions",
        type=_subscriptions,
        default=(),
        help="comma-separated subscription GUIDs (default: SUBSCRIPTION_ALLOW_LIST, else all visible)",
    )
    sweep.add_argument(
        "--apply",
        action="store_true",
        help="send the PATCHes (without it, a dry run: nothing is written to any machine)",
    )
    sweep.add_argument(
        "--follow-up", type=duration_argument, help="follow-up window, e.g. P7D or 7d (default FOLLOW_UP_WINDOW)"
    )
    sweep.add_argument(
        "--poll-interval", type=duration_argument, help="poll interval, e.g. PT12H (default POLL_INTERVAL)"
    )
    status = commands.add_parser("status", help="re-read a run's enabled machines once and record their outcomes")
    status.add_argument("run_id")
    show = commands.add_parser("show", help="print a run (default: the newest) and what needs attention")
    show.add_argument("run_id", nargs="?")
    show.add_argument("--machines", help="list machines with this outcome, finding, action or result")
    show.add_argument("--limit", type=int, default=25)
    show.add_argument("--html", metavar="FILE", help="also write the run's HTML report (charts, trend) to FILE")
    for command in (sweep, status, show):
        command.add_argument("--json", metavar="FILE", help="also write the run report as JSON to FILE ('-': stdout)")
    return parser


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None, clock: Clock = utc_now) -> int:
    args = _parser().parse_args(argv)
    try:
        app = steps(os.environ if env is None else env)
    except (SettingsError, ValueError) as error:  # ValueError: no storage configured
        print(error, file=sys.stderr)
        return 2
    report = sys.stderr if args.json == "-" else sys.stdout
    try:
        if args.command == "sweep":
            run_id = on_demand_run_id(clock(), secrets.token_hex(4), trigger=Trigger.CLI)
            request = SweepRequest(
                run_id,
                Trigger.CLI,
                args.subscriptions,
                None if args.apply else True,
                args.follow_up,
                args.poll_interval,
            )
            print(
                f"Sweeping {app.settings.arm_endpoint} as run {run_id}"
                f"{'' if args.apply else ' (dry run: add --apply to enable automatic upgrade)'}",
                file=sys.stderr,
            )
            run = sweep_now(app, request, iso(clock()))
            if run.status == RunStatus.FOLLOWING:
                print(f"Follow the upgrades with: python -m arc_sweeper status {run_id}", file=sys.stderr)
        elif args.command == "status":
            check_once(app, args.run_id, clock())
            run = _run(app, args.run_id)
        else:
            run = _latest(app) if args.run_id is None else _run(app, args.run_id)
    except LookupError as error:
        print(error, file=sys.stderr)
        return 2
    _print_run(app, run, args, write=lambda line: print(line, file=report))
    if getattr(args, "html", None):
        page = load_page(app.store, run.run_id, generated_at=iso(clock()))
        assert page is not None, "the run was just read"
        Path(args.html).write_text(render_page(page), encoding="utf-8")
        print(f"HTML report of {run.run_id} written to {args.html}", file=sys.stderr)
    return 1 if run.status == RunStatus.FAILED else 0


def _latest(app: Steps) -> RunRecord:
    runs = app.store.all_runs()
    if not runs:
        raise LookupError(f"no runs in the {app.settings.table_prefix}runs table yet")
    return max(runs, key=lambda run: run.started_at)


def _print_run(app: Steps, run: RunRecord, args: argparse.Namespace, write: Callable[[str], Any]) -> None:
    subscriptions = app.store.subscriptions(run.run_id)
    rows = list(app.store.all_machines(run.run_id, subscriptions))
    items = attention_items(rows, [s for s in subscriptions if not s.in_scope])
    print_lines(summary_lines(run) + finding_lines(run) + attention_lines(items, getattr(args, "limit", 25)), write)
    wanted = getattr(args, "machines", None)
    if wanted:
        chosen = [r for r in rows if wanted in (r.outcome, r.action, r.action_result) or wanted in r.findings]
        write(f"Machines with {wanted!r}: {len(chosen)}")
        for r in chosen[: args.limit]:
            detail = r.arm_error_code or r.last_attempt_message or r.outcome_detail
            write(
                f"  {r.resource_id}\n      agent {r.agent_version_seen or '?'} -> {r.agent_version_now or '-'}, "
                f"{r.outcome or r.action_result}: {detail[:160]}"
            )
    if args.json:
        every_item = AttentionDigest(keep=None)
        every_item.add(items)
        text = json.dumps(build_report(run, subscriptions, every_item).to_json(), indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text, encoding="utf-8")
