"""The sweep, as three orchestrations.

sweep_orchestrator            start -> discover (one activity per batch of subscriptions)
                              -> enable (one sub-orchestration per subscription)
                              -> digest alert -> follow up -> final alert
enable_subscription_orchestrator   chunks of machines, one after another, so writes to a
                              subscription stay within its ARM write budget
follow_up_orchestrator        sleep one poll interval, re-read the cohort, continue as new
                              (fresh, small history) until settled or out of time

Deterministic by construction: time only from context.current_utc_datetime, no I/O,
inputs and outputs are small messages (ids and counts).
"""
from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

from activities.sweep_steps import (
    check_cohort, discover_machines, enable_machines, finish_enabling, finish_run, record_failure, start_run,
)
from arc_sweeper.messages import (
    CheckCohort, DiscoverBatch, DiscoveryResult, EnableChunk, EnableSubscription, FollowUpState,
    PhaseEnd, RunPlan, StartRun, SweepRequest, Tally,
)
from arc_sweeper.text import clip
from arc_sweeper.timefmt import iso, parse_timestamp

bp = df.Blueprint()

# Activities retry their own HTTP calls; this covers a lost worker or a storage hiccup.
ACTIVITY_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=30_000, max_number_of_attempts=3)


def _merged(tallies: list | None) -> Tally:
    return Tally.merged([Tally.from_json(t) for t in tallies or []])


@bp.orchestration_trigger(context_name="context")
def sweep_orchestrator(context: df.DurableOrchestrationContext):
    request = SweepRequest.from_json(context.get_input())
    run_id = request.run_id

    def now() -> str:
        return iso(context.current_utc_datetime)

    try:
        context.set_custom_status({"runId": run_id, "phase": "starting"})
        plan = RunPlan.from_json((yield context.call_activity_with_retry(
            start_run, ACTIVITY_RETRY, StartRun(request, now()).to_json())))

        context.set_custom_status({"runId": run_id, "phase": "discovering", "batches": plan.batch_count})
        discovered = yield context.task_all([
            context.call_activity_with_retry(discover_machines, ACTIVITY_RETRY,
                                             DiscoverBatch(run_id, index, now()).to_json())
            for index in range(plan.batch_count)
        ])
        results = [DiscoveryResult.from_json(d) for d in discovered or []]
        work = [w for result in results for w in result.work]

        context.set_custom_status({"runId": run_id, "phase": "enabling", "subscriptions": len(work),
                                   "machines": sum(w.machines_to_enable for w in work)})
        enabled = yield context.task_all([
            context.call_sub_orchestrator(
                enable_subscription_orchestrator,
                EnableSubscription(run_id, w.subscription_id, w.machines_to_enable, w.chunks,
                                   plan.dry_run, now()).to_json(),
                instance_id=f"{run_id}:enable:{w.subscription_id}", expected_type=dict,
            )
            for w in work
        ])
        enable_counts = _merged(enabled).counts

        cohort = yield context.call_activity_with_retry(finish_enabling, ACTIVITY_RETRY,
                                                        PhaseEnd(run_id, now()).to_json())
        if cohort:
            context.set_custom_status({"runId": run_id, "phase": "following", "cohort": cohort,
                                       "enableResults": enable_counts})
            deadline = context.current_utc_datetime + timedelta(seconds=plan.follow_up_window_s)
            batches = tuple(sorted({r.batch_index for r in results if r.work}))
            outcome = yield context.call_sub_orchestrator(
                follow_up_orchestrator,
                FollowUpState(run_id, batches, iso(deadline), plan.poll_interval_s).to_json(),
                instance_id=f"{run_id}:follow-up", expected_type=dict,
            )
            yield context.call_activity_with_retry(finish_run, ACTIVITY_RETRY, PhaseEnd(run_id, now()).to_json())
            outcome_counts = Tally.from_json(outcome).counts
        else:
            outcome_counts = {}
        summary = {"runId": run_id, "phase": "done", "enableResults": enable_counts, "outcomes": outcome_counts}
        context.set_custom_status(summary)
        return summary
    except Exception as error:
        context.set_custom_status({"runId": run_id, "phase": "failed"})
        try:
            yield context.call_activity_with_retry(
                record_failure, ACTIVITY_RETRY, PhaseEnd(run_id, now(), clip(str(error))).to_json())
        except Exception:  # noqa: BLE001 - e.g. the same bad setting: report the first error, not this one
            pass
        raise error


@bp.orchestration_trigger(context_name="context")
def enable_subscription_orchestrator(context: df.DurableOrchestrationContext):
    work = EnableSubscription.from_json(context.get_input())
    tallies = []
    for chunk_index in range(work.chunks):
        tallies.append((yield context.call_activity_with_retry(
            enable_machines, ACTIVITY_RETRY,
            EnableChunk(work.run_id, work.subscription_id, chunk_index, work.dry_run,
                        iso(context.current_utc_datetime)).to_json(),
        )))
    return _merged(tallies).to_json()


@bp.orchestration_trigger(context_name="context")
def follow_up_orchestrator(context: df.DurableOrchestrationContext):
    state = FollowUpState.from_json(context.get_input())
    deadline = parse_timestamp(state.deadline)
    wake_at = min(context.current_utc_datetime + timedelta(seconds=state.poll_interval_s), deadline)
    yield context.create_timer(wake_at)
    final = context.current_utc_datetime >= deadline
    checked = yield context.task_all([
        context.call_activity_with_retry(
            check_cohort, ACTIVITY_RETRY,
            CheckCohort(state.run_id, index, iso(context.current_utc_datetime)).to_json())
        for index in state.batch_indices
    ])
    tally = _merged(checked)
    context.set_custom_status({"runId": state.run_id, "poll": state.polls_done + 1, "outcomes": tally.counts})
    if tally.unsettled == 0 or final:
        return tally.to_json()
    context.continue_as_new(FollowUpState(
        state.run_id, state.batch_indices, state.deadline, state.poll_interval_s, state.polls_done + 1).to_json())
