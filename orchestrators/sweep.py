"""The sweep, as three orchestrations.

sweep_orchestrator            start -> discover (one activity per batch of subscriptions, in
                              turn, handing on the Resource Graph quota) -> enable (one
                              sub-orchestration per subscription, all in parallel) -> digest
                              alert -> follow up -> final alert
enable_subscription_orchestrator   the subscription's chunks (machines, then extensions) one
                              after another, handing on its ARM write budget; a chunk continues
                              in a new call when an activity's time budget ran out
follow_up_orchestrator        sleep one poll interval, re-read the cohort, continue as new
                              (fresh, small history) until settled or out of time

A run survives its parts: a batch, a chunk or a subscription that fails even after the
activity retries is recorded with its reason (the run goes on and its alert says what
failed); only a run that cannot start, or cannot record anything, fails as a whole.

Deterministic by construction: time only from context.current_utc_datetime, no I/O,
inputs and outputs are small messages (ids, counts, budgets).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.sweep_steps import (
    abandon_chunk,
    check_cohort,
    discover_machines,
    enable_machines,
    evaluate_rings,
    finish_enabling,
    finish_run,
    record_batch_not_swept,
    record_failure,
    start_run,
)
from arc_sweeper.messages import (
    BatchFailure,
    CheckCohort,
    ChunkFailure,
    ChunkResult,
    CohortResult,
    DiscoverBatch,
    DiscoveryResult,
    EnableChunk,
    EnableSubscription,
    EvaluateRings,
    FollowUpState,
    PhaseEnd,
    RingPlan,
    RunPlan,
    StartRun,
    SweepRequest,
    Tally,
)
from arc_sweeper.text import clip
from arc_sweeper.timefmt import iso, parse_timestamp
from arc_sweeper.vocabulary import Target

bp = df.Blueprint()

# Activities retry their own HTTP calls; this covers a lost worker, a storage hiccup, a throttled service.
ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=30_000, max_number_of_attempts=3)
MAX_CALLS_PER_CHUNK = 20
"""A chunk continued this many times (each call up to ENABLE_TIME_BUDGET) is given up and recorded."""


def _now(context: df.DurableOrchestrationContext) -> str:
    return iso(context.current_utc_datetime)


@bp.orchestration_trigger(context_name="context")
def sweep_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    request = SweepRequest.from_json(context.get_input())
    run_id = request.run_id
    try:
        context.set_custom_status({"runId": run_id, "phase": "starting"})
        plan = RunPlan.from_json(
            (
                yield context.call_activity_with_retry(
                    start_run, ACTIVITY_RETRY, StartRun(request, _now(context)).to_json()
                )
            )
        )

        problems: list[str] = []
        rings = None
        if plan.staged:
            try:
                rings = RingPlan.from_json(
                    (
                        yield context.call_activity_with_retry(
                            evaluate_rings, ACTIVITY_RETRY, EvaluateRings(run_id, _now(context)).to_json()
                        )
                    )
                )
            except Exception as error:  # noqa: BLE001 - fail closed: no ring is enabled today
                problems.append(clip(f"rings could not be evaluated, so no ring is enabled: {_reason(error)}", 500))
                rings = RingPlan((), 0, {})

        context.set_custom_status({"runId": run_id, "phase": "discovering", "batches": plan.batch_count})
        results: list[DiscoveryResult] = []
        quota = None
        for index in range(plan.batch_count):
            try:
                result = DiscoveryResult.from_json(
                    (
                        yield context.call_activity_with_retry(
                            discover_machines,
                            ACTIVITY_RETRY,
                            DiscoverBatch(run_id, index, _now(context), quota, rings).to_json(),
                        )
                    )
                )
                quota = result.quota or quota
                results.append(result)
                if result.dropped:
                    problems.append(
                        f"discovery batch {index}: {result.dropped} Resource Graph rows outside the"
                        " requested subscriptions were dropped"
                    )
                if result.extension_error:
                    problems.append(f"discovery batch {index}: {result.extension_error}")
            except Exception as error:  # noqa: BLE001 - recorded; the other batches go on
                problems.append(clip(f"discovery batch {index} failed: {_reason(error)}", 500))
                yield context.call_activity_with_retry(
                    record_batch_not_swept,
                    ACTIVITY_RETRY,
                    BatchFailure(run_id, index, _reason(error), _now(context)).to_json(),
                )
        # Busiest subscription first: the sweep lasts as long as its busiest subscription's writes at
        # ARM's refill, so that one's first PATCH must not wait behind a hundred small ones.
        work = sorted(
            (w for result in results for w in result.work),
            key=lambda w: (-w.machines_to_enable, -w.extension_chunks),
        )

        context.set_custom_status(
            {
                "runId": run_id,
                "phase": "enabling",
                "subscriptions": len(work),
                "machines": sum(w.machines_to_enable for w in work),
            }
        )
        enabling = [
            context.call_sub_orchestrator(
                enable_subscription_orchestrator,
                EnableSubscription(
                    run_id,
                    w.subscription_id,
                    w.machines_to_enable,
                    w.chunks,
                    plan.dry_run,
                    _now(context),
                    w.extension_chunks,
                ).to_json(),
                instance_id=f"{run_id}:enable:{w.subscription_id}",
                expected_type=dict,
            )
            for w in work
        ]
        enabled: list[Any] = []
        try:
            enabled = yield context.task_all(enabling)
        except Exception:  # noqa: BLE001 - the first failure; wait for every subscription, name each that failed
            for w, task in zip(work, enabling, strict=True):
                try:
                    enabled.append((yield task))
                except Exception as error:  # noqa: BLE001 - the rows say what was done; finish_enabling recounts
                    problems.append(clip(f"enabling failed in subscription {w.subscription_id}: {_reason(error)}", 500))
        enable_tally = Tally.merged([Tally.from_json(t) for t in enabled or []])
        enable_counts, extension_counts = enable_tally.counts, enable_tally.extension_counts

        cohort = yield context.call_activity_with_retry(
            finish_enabling, ACTIVITY_RETRY, PhaseEnd(run_id, _now(context), "; ".join(problems)).to_json()
        )
        outcome_counts: dict[str, int] = {}
        extension_outcomes: dict[str, int] = {}
        if cohort:
            context.set_custom_status(
                {"runId": run_id, "phase": "following", "cohort": cohort, "enableResults": enable_counts}
            )
            deadline = context.current_utc_datetime + timedelta(seconds=plan.follow_up_window_s)
            batches = tuple(sorted({r.batch_index for r in results if r.work}))
            outcome = yield context.call_sub_orchestrator(
                follow_up_orchestrator,
                FollowUpState(run_id, batches, iso(deadline), plan.poll_interval_s).to_json(),
                instance_id=f"{run_id}:follow-up",
                expected_type=dict,
            )
            yield context.call_activity_with_retry(
                finish_run, ACTIVITY_RETRY, PhaseEnd(run_id, _now(context)).to_json()
            )
            followed = Tally.from_json(outcome)
            outcome_counts, extension_outcomes = followed.counts, followed.extension_counts
        summary = {
            "runId": run_id,
            "phase": "done",
            "enableResults": enable_counts,
            "outcomes": outcome_counts,
            **(
                {"extensionResults": extension_counts, "extensionOutcomes": extension_outcomes}
                if extension_counts or extension_outcomes
                else {}
            ),
        }
        context.set_custom_status(summary)
        return summary
    except Exception as error:
        context.set_custom_status({"runId": run_id, "phase": "failed"})
        try:
            yield context.call_activity_with_retry(
                record_failure, ACTIVITY_RETRY, PhaseEnd(run_id, _now(context), clip(str(error))).to_json()
            )
        except Exception:  # noqa: BLE001 - e.g. the same bad setting: report the first error, not this one
            pass
        raise error


@bp.orchestration_trigger(context_name="context")
def enable_subscription_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    """The machines' chunks, then the extensions', on one write budget.

    Never fails for a failed chunk: the chunk's open rows are recorded as failed and the next one goes.
    """
    work = EnableSubscription.from_json(context.get_input())
    tallies: list[Tally] = []
    budget = None
    chunks = [(Target.MACHINES, index) for index in range(work.chunks)] + [
        (Target.EXTENSIONS, index) for index in range(work.extension_chunks)
    ]
    for target, chunk_index in chunks:
        result = ChunkResult({})
        for continuation in range(MAX_CALLS_PER_CHUNK):
            try:
                result = ChunkResult.from_json(
                    (
                        yield context.call_activity_with_retry(
                            enable_machines,
                            ACTIVITY_RETRY,
                            EnableChunk(
                                work.run_id,
                                work.subscription_id,
                                chunk_index,
                                work.dry_run,
                                _now(context),
                                budget,
                                continuation,
                                target,
                            ).to_json(),
                        )
                    )
                )
            except Exception as error:  # noqa: BLE001 - recorded on the rows, the subscription goes on
                result = yield from _abandoned(context, work, target, chunk_index, _reason(error))
                break
            budget = result.budget or budget
            if result.remaining == 0:
                break
        else:
            result = yield from _abandoned(
                context, work, target, chunk_index, f"still unfinished after {MAX_CALLS_PER_CHUNK} calls"
            )
        tallies.append(Tally(result.counts) if target == Target.MACHINES else Tally(extension_counts=result.counts))
    return Tally.merged(tallies).to_json()


def _abandoned(
    context: df.DurableOrchestrationContext, work: EnableSubscription, target: Target, chunk_index: int, reason: str
) -> Any:
    failure = ChunkFailure(work.run_id, work.subscription_id, chunk_index, clip(reason, 1000), _now(context), target)
    return ChunkResult.from_json(
        (yield context.call_activity_with_retry(abandon_chunk, ACTIVITY_RETRY, failure.to_json()))
    )


@bp.orchestration_trigger(context_name="context")
def follow_up_orchestrator(context: df.DurableOrchestrationContext):  # type: ignore[no-untyped-def]
    state = FollowUpState.from_json(context.get_input())
    deadline = parse_timestamp(state.deadline)
    wake_at = min(context.current_utc_datetime + timedelta(seconds=state.poll_interval_s), deadline)
    yield context.create_timer(wake_at)
    final = context.current_utc_datetime >= deadline
    tallies: list[Tally] = []
    quota = None
    for index in state.batch_indices:
        try:
            checked = CohortResult.from_json(
                (
                    yield context.call_activity_with_retry(
                        check_cohort, ACTIVITY_RETRY, CheckCohort(state.run_id, index, _now(context), quota).to_json()
                    )
                )
            )
        except Exception:  # noqa: BLE001 - this poll of this batch is lost; the next poll reads it again
            continue
        quota = checked.quota or quota
        tallies.append(checked.tally)
    tally = Tally.merged(tallies)
    context.set_custom_status(
        {
            "runId": state.run_id,
            "poll": state.polls_done + 1,
            "outcomes": tally.counts,
            **({"extensionOutcomes": tally.extension_counts} if tally.extension_counts else {}),
        }
    )
    if (tally.unsettled == 0 and len(tallies) == len(state.batch_indices)) or final:
        return tally.to_json()
    context.continue_as_new(
        FollowUpState(
            state.run_id, state.batch_indices, state.deadline, state.poll_interval_s, state.polls_done + 1
        ).to_json()
    )


def _reason(error: Exception) -> str:
    """The activity's own message: the SDK passes on the host's `Reason` line, then the traceback."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return re.sub(r"^Activity function '[^']*' failed: ", "", first).strip()
