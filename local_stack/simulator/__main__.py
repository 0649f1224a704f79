"""``python -m local_stack.simulator``: serve a generated fleet until Ctrl-C.

Prints the base URL on the first line of stdout, so a script can read it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from dataclasses import fields
from datetime import UTC, datetime

from local_stack.clock import RealClock, VirtualClock
from local_stack.simulator.faults import FaultSettings
from local_stack.simulator.generator import FleetSpec, generate_fleet
from local_stack.simulator.server import FleetSimulator
from local_stack.simulator.timing import Latency

FAULTS = tuple(f.name for f in fields(FaultSettings))


def _pairs(text: str, names: tuple[str, ...], what: str) -> dict[str, float]:
    """``a=0.1,b=2`` -> {"a": 0.1, "b": 2.0}, each name one of ``names``."""
    values = {}
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        if name not in names:
            raise argparse.ArgumentTypeError(f"unknown {what} {name!r}; use {', '.join(names)}")
        values[name] = float(value)
    return values


def _faults(text: str) -> FaultSettings:
    return FaultSettings(**_pairs(text, FAULTS, "fault kind"))


def _latency(text: str) -> Latency:
    return Latency(**{f"{k}_s": v for k, v in _pairs(text, ("read", "write"), "latency kind").items()})


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack.simulator", description=__doc__)
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--subscriptions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--start", type=_moment, default=None, help="simulated start time (ISO 8601); default: now, on the real clock"
    )
    parser.add_argument(
        "--faults",
        type=_faults,
        default=FaultSettings(),
        help="fault rates, e.g. arg=0.05,patch=0.02 (kinds: {})".format(", ".join(FAULTS)),
    )
    parser.add_argument("--throttle-scale", type=float, default=1.0, help="< 1 shrinks quotas and buckets")
    parser.add_argument(
        "--latency",
        type=_latency,
        default=Latency(),
        help="service time in seconds per request, e.g. read=0.02,write=0.05 (default 0)",
    )
    parser.add_argument(
        "--odd-but-legal",
        action="store_true",
        help="add the odd-but-legal estate (Unicode resource groups, every subscription state, ...)",
    )
    args = parser.parse_args(argv)

    if args.start is None:
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        clock = RealClock()
    else:
        start = args.start
        clock = VirtualClock(start)
    fleet = generate_fleet(
        FleetSpec(
            seed=args.seed,
            subscriptions=args.subscriptions,
            machines=args.machines,
            now=start,
            odd_but_legal=args.odd_but_legal,
        )
    )
    sim = FleetSimulator(
        fleet,
        clock,
        faults=args.faults,
        throttle_scale=args.throttle_scale,
        host=args.host,
        port=args.port,
        max_log_entries=100_000,
        latency=args.latency,
    )
    with sim:
        print(sim.base_url, flush=True)
        print(
            f"{len(fleet.machines)} machines in {len(fleet.subscriptions)} subscriptions, tenant "
            f"{fleet.tenant_id}, fleet time {start.isoformat()}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
