"""`python -m local_stack demo|show`: the local stack's own commands (never deployed).

`demo` runs a week of daily sweeps on a simulated estate (make demo). `show` starts
Azurite over a folder the demo (or a test) left behind and hands over to the product's
own `python -m arc_sweeper show`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from arc_sweeper import cli as operator_cli
from local_stack.azurite import start_azurite


def show(args: argparse.Namespace, rest: list[str]) -> int:
    """Print a run (default: the newest) from the tables in an Azurite folder."""
    location = Path(args.location).resolve()
    if not location.exists():
        print(f"No results at {location}: run `make demo` first.", file=sys.stderr)
        return 2
    with start_azurite(in_memory=False, location=str(location)) as azurite:
        env = {**os.environ, "AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": args.prefix}
        return operator_cli.main(["show", *rest], env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="a week of daily sweeps on a simulated estate (make demo)")
    demo.add_argument("--machines", type=int, default=900)
    demo.add_argument("--subscriptions", type=int, default=12)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--follow-up", type=operator_cli.duration_argument, default="P7D")
    demo.add_argument("--poll-interval", type=operator_cli.duration_argument, default="P1D")
    demo.add_argument("--days", type=int, default=7, help="daily sweeps to run (default 7: a week)")
    demo.add_argument(
        "--failing-ring",
        type=int,
        choices=(0, 1, 2),
        default=None,
        help="half of this ring's machines fail every upgrade, so the ring after it is held",
    )

    show_cmd = commands.add_parser(
        "show", help="print a run left in a local Azurite folder (other options as for python -m arc_sweeper show)"
    )
    show_cmd.add_argument("--location", default=".demo/azurite", help="Azurite folder (default .demo/azurite)")
    show_cmd.add_argument("--prefix", default="demo", help="TABLE_PREFIX used by that run (default demo)")

    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        from local_stack.demo import run_demo

        logging.getLogger("arc_sweeper").setLevel(logging.ERROR)  # the day's refused PATCHes are summed up instead

        return run_demo(
            machines=args.machines,
            subscriptions=args.subscriptions,
            seed=args.seed,
            follow_up=args.follow_up,
            poll_interval=args.poll_interval,
            days=args.days,
            failing_ring=args.failing_ring,
        )
    return show(args, rest)
