"""`make bench`: the sweep end to end against Azure's budgets, three ways, side by side in one run.

For each estate, against a fresh fleet simulator each time (real clock, the limits below),
the product (the app on the local Durable host with Azurite), a sequential client and a
model of the built-in policy's remediation task sweep the same seeded estate. Reported per
sweep: enabling and whole-sweep time as ratios to the throttle floor, PATCHes, 429s,
requests sent before a Retry-After had passed, Resource Graph requests, Table Storage rows
written, CPU time and peak RSS per process, and the largest orchestration history. Then
the orchestration micro benchmarks (local_stack.bench.orchestration).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time

from local_stack.bench import orchestration
from local_stack.bench.estates import Estate
from local_stack.bench.report import print_estate
from local_stack.bench.scale import measure
from local_stack.bench.sweeps import ACTIVITY_SLOTS, PRODUCT, REMEDIATION, SEQUENTIAL
from local_stack.simulator import Latency, ThrottleSettings

LATENCY = Latency(read_s=0.05, write_s=0.1)
TEN_THOUSAND = Estate(
    "10,000 machines in 100 subscriptions",
    10_000,
    100,
    ThrottleSettings(write_burst=10, write_refill_per_second=1.0),
    LATENCY,
)
HUNDRED_THOUSAND = Estate(
    "100,000 machines in 1,000 subscriptions",
    100_000,
    1_000,
    ThrottleSettings(write_burst=10, write_refill_per_second=0.1),
    LATENCY,
)
REDUCED = Estate(
    "25,000 machines in 1,000 subscriptions (reduced; SIZE=full runs 100,000)",
    25_000,
    1_000,
    ThrottleSettings(write_burst=2, write_refill_per_second=0.1),
    LATENCY,
)
"""Azure's write bucket is 200 + 10/s per subscription; at that size an estate of ~40 writes per
subscription fits in the burst and the sweep is bound by this machine's CPU. These buckets are
smaller and slower, so that the floor is Azure's, and the refill summed over all subscriptions
(100 writes/s) stays within what this 2-core machine can send while it also runs the simulator
and Azurite."""
ESTATES = {"reduced": (TEN_THOUSAND, REDUCED), "full": (TEN_THOUSAND, HUNDRED_THOUSAND)}


def custom_estate(text: str) -> Estate:
    """`MACHINES/SUBSCRIPTIONS`, e.g. 20000/200."""
    machines, _, subscriptions = text.partition("/")
    if not (machines.isdigit() and subscriptions.isdigit() and 0 < int(subscriptions) <= int(machines)):
        raise argparse.ArgumentTypeError(f"expected MACHINES/SUBSCRIPTIONS, e.g. 20000/200, not {text!r}")
    return Estate(
        f"{int(machines):,} machines in {int(subscriptions):,} subscriptions",
        int(machines),
        int(subscriptions),
        TEN_THOUSAND.throttling,
        TEN_THOUSAND.latency,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size",
        choices=sorted(ESTATES),
        default="reduced",
        help="reduced (default): the second estate has 25,000 machines; full: 100,000",
    )
    parser.add_argument(
        "--sequential-cap",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="the sequential baseline stops sending after this long and is projected from its "
        "rate (0: no cap; uncapped it takes about 45 times the floor)",
    )
    parser.add_argument(
        "--estate",
        type=custom_estate,
        metavar="MACHINES/SUBSCRIPTIONS",
        help="this estate instead of the two above, with the 10,000-machine estate's limits (e.g. 20000/200: "
        "one discovery batch of 200 subscriptions; app settings such as RESOURCE_GRAPH_BATCH_SIZE are read "
        "from the environment)",
    )
    parser.add_argument(
        "--activity-slots",
        type=int,
        default=ACTIVITY_SLOTS,
        metavar="N",
        help=f"the product's activities run in worker processes of N at once (default {ACTIVITY_SLOTS}, host.json's "
        "maxConcurrentActivityFunctions), as many as one per subscription needs, as on a scaled-out app; "
        "0: all in the sweep's own process",
    )
    parser.add_argument("--skip-orchestration", action="store_true", help="only the end-to-end sweeps")
    parser.add_argument("--large-only", action="store_true", help="only the second, larger estate")
    parser.add_argument(
        "--product-only",
        action="store_true",
        help="only the product's sweep, no baselines (to compare the product with itself before and after a change)",
    )
    args = parser.parse_args(argv)
    if args.activity_slots < 0:
        parser.error("--activity-slots: 0 or more")
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    print(
        f"Machine: {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. The simulator, Azurite and each sweep run as separate "
        "processes on it; "
        + (
            f"the product's activities run in worker processes of {args.activity_slots} at once, standing in for "
            "the scaled-out app's instances."
            if args.activity_slots
            else "the sweep's one process stands in for the scaled-out app."
        )
    )
    estates = ESTATES[args.size][1:] if args.large_only else ESTATES[args.size]
    for estate in (args.estate,) if args.estate else estates:
        started = time.monotonic()
        results = [measure(estate, PRODUCT, activity_workers=estate.subscriptions, activity_slots=args.activity_slots)]
        if not args.product_only:
            results += [measure(estate, SEQUENTIAL, cap_s=args.sequential_cap or None), measure(estate, REMEDIATION)]
        print_estate(estate, results, time.monotonic() - started)
    if not args.skip_orchestration:
        orchestration.main([])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
