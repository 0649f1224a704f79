"""What the orchestration design saves, measured side by side in one run (`make bench-orchestration`).

Each scenario runs the product's orchestrator and a naive variant of it through the real
Durable SDK on the local host (virtual clock, activities stubbed so only orchestration
cost is measured) and reports replayed history events, the largest history, and CPU
time, with the naive/product ratio. Orchestration cost is what grows with an estate:
every episode replays the whole history (see shared/reference/durable-functions-python.md).

- follow-up: the product's follow_up_orchestrator continues as new after every poll;
  the variant loops over the same polls inside one execution.
- enabling: the product's enable_subscription_orchestrator PATCHes chunks of 100 machines
  per activity; the variant fans out one activity per machine.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df

import orchestrators
from arc_sweeper.messages import CheckCohort, ChunkResult, CohortResult, EnableSubscription, FollowUpState, Tally
from arc_sweeper.timefmt import iso, parse_timestamp
from local_stack.clock import VirtualClock
from local_stack.durable_host import LocalDurableHost

START = datetime(2026, 11, 26, 3, 30, tzinfo=UTC)
CHUNK = 100
stubs = df.Blueprint()


@stubs.activity_trigger(input_name="message")
def check_cohort(message: dict) -> dict:
    return CohortResult(Tally({"pending": 10}, unsettled=10)).to_json()  # never settles: every poll runs


@stubs.activity_trigger(input_name="message")
def enable_machines(message: dict) -> dict:
    return ChunkResult({"enabled": CHUNK}).to_json()


@stubs.activity_trigger(input_name="machine")
def enable_one_machine(machine: int) -> str:
    return "enabled"


@stubs.orchestration_trigger(context_name="context")
def follow_up_in_one_execution(context: df.DurableOrchestrationContext):
    """The product's follow-up without continue_as_new: one history for the whole window."""
    state = FollowUpState.from_json(context.get_input())
    deadline = parse_timestamp(state.deadline)
    while True:
        yield context.create_timer(
            min(context.current_utc_datetime + timedelta(seconds=state.poll_interval_s), deadline)
        )
        yield context.task_all(
            [
                context.call_activity(
                    "check_cohort", CheckCohort(state.run_id, i, iso(context.current_utc_datetime)).to_json()
                )
                for i in state.batch_indices
            ]
        )
        if context.current_utc_datetime >= deadline:
            return None


@stubs.orchestration_trigger(context_name="context")
def enable_one_activity_per_machine(context: df.DurableOrchestrationContext):
    machines = context.get_input()["machines"]
    results = yield context.task_all([context.call_activity("enable_one_machine", i) for i in range(machines)])
    return len(results)


def bench_app() -> df.DFApp:
    app = df.DFApp()
    app.register_functions(orchestrators.bp)
    app.register_functions(stubs)
    return app


@dataclass(frozen=True)
class Cost:
    replayed_events: int
    max_history: int
    episodes: int
    cpu_s: float


def measure(name: str, payload: dict) -> Cost:
    """Run one orchestration to completion on a fresh host; sum the cost over all its executions."""
    with LocalDurableHost(bench_app(), clock=VirtualClock(START)) as host:
        started = time.process_time()
        instance = host.start_new(name, "bench", payload)
        final = host.run_until_complete(instance, timeout_s=900)
        cpu = time.process_time() - started
        if final.runtime_status != "Completed":
            raise RuntimeError(f"{name} ended {final.runtime_status}: {final.error}")
        infos = host.instances()
    return Cost(
        sum(i.replayed_events for i in infos),
        max(i.max_history_length for i in infos),
        sum(i.episodes for i in infos),
        cpu,
    )


def follow_up_scenario(batches: int, window: timedelta, poll: timedelta) -> tuple[str, dict, str, dict]:
    state = FollowUpState("bench", tuple(range(batches)), iso(START + window), int(poll.total_seconds()))
    return "follow_up_orchestrator", state.to_json(), "follow_up_in_one_execution", state.to_json()


def enabling_scenario(machines: int) -> tuple[str, dict, str, dict]:
    work = EnableSubscription(
        "bench", "00000000-0000-0000-0000-000000000000", machines, math.ceil(machines / CHUNK), False, iso(START)
    )
    return (
        "enable_subscription_orchestrator",
        work.to_json(),
        "enable_one_activity_per_machine",
        {"machines": machines},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.bench.orchestration",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--machines",
        type=int,
        nargs="+",
        default=[500, 1000],
        help="machines in one subscription for the enabling scenarios",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the SDK warns about auth levels on a bench app without HTTP
    scenarios = [
        ("follow-up, 10 batches, 7 days, poll 12 h", follow_up_scenario(10, timedelta(days=7), timedelta(hours=12))),
        ("follow-up, 10 batches, 7 days, poll 4 h", follow_up_scenario(10, timedelta(days=7), timedelta(hours=4))),
        *((f"enabling, {n} machines in one subscription", enabling_scenario(n)) for n in args.machines),
    ]
    print("Orchestration cost, product design vs naive design (same SDK, same host, same run):")
    print("scenario                                      design    replayed events  max history  episodes   CPU s")
    for title, (product, product_input, naive, naive_input) in scenarios:
        ours, theirs = measure(product, product_input), measure(naive, naive_input)
        for label, cost in (("product", ours), ("naive", theirs)):
            print(
                f"{title:<45} {label:<9} {cost.replayed_events:>15} {cost.max_history:>12} {cost.episodes:>9} "
                f"{cost.cpu_s:>7.2f}"
            )
        print(
            f"{'':<45} {'ratio':<9} {theirs.replayed_events / max(ours.replayed_events, 1):>14.1f}x "
            f"{theirs.max_history / max(ours.max_history, 1):>11.1f}x {'':>9} "
            f"{theirs.cpu_s / max(ours.cpu_s, 1e-9):>6.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
