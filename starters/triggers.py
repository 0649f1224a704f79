"""The daily timer and `POST/GET /api/sweeps`: thin code around the durable client.

Validation and run ids live in arc_sweeper.sweep_requests; here we only talk to the
durable client and shape HTTP responses. Responses never echo secrets: errors carry
reasons (an invalid app setting is named, a secret one never shown), and the status URL
we hand out carries no key.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime, timedelta

import azure.durable_functions as df
import azure.functions as func

from arc_sweeper.clock import utc_now
from arc_sweeper.messages import SweepRequest
from arc_sweeper.runtime import Steps, steps
from arc_sweeper.serialization import to_json
from arc_sweeper.settings import SettingsError
from arc_sweeper.sweep_requests import (
    BadSweepRequest,
    check_timing,
    daily_run_id,
    is_run_id,
    on_demand_run_id,
    parse_sweep_body,
)
from arc_sweeper.timefmt import iso
from arc_sweeper.vocabulary import RunPhase, RunStatus, Trigger
from starters.responses import STORAGE_ERRORS, configured, json_response, storage_unavailable

log = logging.getLogger(__name__)
bp = df.Blueprint()

ORCHESTRATOR = "sweep_orchestrator"
LIVE_STATES = {df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending}
ENDED_STATES = {
    df.OrchestrationRuntimeStatus.Completed,
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
}


async def _is_live(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    return bool(status) and status.runtime_status in LIVE_STATES


async def _has_ended(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    return bool(status) and status.runtime_status in ENDED_STATES


async def _take_lease(
    client: df.DurableOrchestrationClient, app: Steps, request: SweepRequest, now: datetime
) -> str | None:
    """Take the enabling lease for the request's scope; the run id of a holder in the way, or None.

    A holder whose orchestration has ended (it failed or was terminated before releasing) is
    evicted. One with no orchestration yet is not: its starter took the lease a moment ago and
    is about to start it (were that starter to die, the lease runs out after ENABLING_LEASE).
    """
    scope, ttl = app.scope.requested_scope(request), app.settings.enabling_lease
    await asyncio.to_thread(app.store.create_tables)  # the very first sweep finds no tables yet
    evicted: set[str] = set()
    for _ in range(3):
        holder = await asyncio.to_thread(app.store.leases.acquire, request.run_id, scope, now, ttl, evicted)
        if holder is None or not await _has_ended(client, holder):
            return holder
        log.warning("run %s held the enabling lease but its orchestration has ended: evicted", holder)
        evicted.add(holder)
    return holder


@bp.timer_trigger(schedule="%SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def daily_sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Start today's sweep once: the instance id is the date, so a second firing finds it."""
    now = utc_now()
    run_id = daily_run_id(now.date())
    try:
        app = steps()  # fail here, not in the orchestration, and leave today's run id unused
    except SettingsError as error:
        log.error("not starting sweep %s: %s", run_id, error)
        raise RuntimeError(f"not starting sweep {run_id}: {error}") from None
    existing = await client.get_status(run_id)
    if existing and existing.runtime_status is not None:
        log.info("sweep %s already exists (%s); not starting another", run_id, existing.runtime_status)
        return
    request = SweepRequest(run_id, Trigger.TIMER)
    if not app.scope.dry_run_reason(request):
        holder = await _take_lease(client, app, request, now)
        if holder is not None:  # the run reports only and says why (run row, summary, digest alert)
            log.warning("sweep %s starts report-only: sweep %s is still enabling an overlapping scope", run_id, holder)
    try:
        await client.start_new(ORCHESTRATOR, run_id, request.to_json())
    except Exception as error:  # the extension refuses a duplicate id if another firing won the race
        if await _is_live(client, run_id):
            log.info("sweep %s was started concurrently", run_id)
            return
        await asyncio.to_thread(app.store.leases.release, run_id)
        raise RuntimeError(f"could not start sweep {run_id}: {error}") from error
    log.info("started sweep %s (past due: %s)", run_id, timer.past_due)
    await _purge_old_instances(client, app.settings.history_retention, now)


async def _purge_old_instances(client: df.DurableOrchestrationClient, retention: timedelta, now: datetime) -> None:
    """Keep the task hub small: finished instances older than HISTORY_RETENTION go.

    The runs, machines and fleet tables keep the product's record; this is only the
    orchestration history. A failure here is logged and never stops the day's sweep.
    """
    try:
        result = await client.purge_instance_history_by(
            created_time_from=datetime(2000, 1, 1, tzinfo=UTC),
            created_time_to=now - retention,
            runtime_status=[
                df.OrchestrationRuntimeStatus.Completed,
                df.OrchestrationRuntimeStatus.Failed,
                df.OrchestrationRuntimeStatus.Terminated,
            ],
        )
        log.info("purged %s finished orchestration instances older than %s", result.instances_deleted, retention)
    except Exception as error:  # noqa: BLE001 - housekeeping only
        log.warning("could not purge old orchestration history: %s: %s", type(error).__name__, error)


@bp.route(route="sweeps", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start an on-demand sweep; 409 naming the holder while an overlapping sweep is still enabling.

    The answer carries the run id and its status URL only: the Durable management URLs embed
    the extension's system key, which would let its holder start, terminate or purge anything.
    """
    now = utc_now()
    run_id = on_demand_run_id(now, secrets.token_hex(4))
    try:
        request = parse_sweep_body(req.get_body(), run_id)
    except BadSweepRequest as error:
        return json_response({"error": "BadRequest", "reason": str(error)}, 400)
    app, refusal = configured()
    if app is None:
        assert refusal is not None
        return refusal
    try:
        check_timing(request, app.settings)
    except BadSweepRequest as error:
        return json_response({"error": "BadRequest", "reason": str(error)}, 400)
    try:
        if not app.scope.dry_run_reason(request):
            holder = await _take_lease(client, app, request, now)
            if holder is not None:
                return json_response(
                    {
                        "error": "Conflict",
                        "runId": holder,
                        "reason": f"sweep {holder} is still enabling an overlapping scope",
                    },
                    409,
                )
        await asyncio.to_thread(app.scope.record_request, request, iso(now))
    except STORAGE_ERRORS as error:
        return storage_unavailable(error)
    try:
        await client.start_new(ORCHESTRATOR, run_id, request.to_json())
    except Exception:
        await asyncio.to_thread(
            app.store.update_run,
            run_id,
            status=RunStatus.FAILED,
            phase=RunPhase.DONE,
            error="the orchestration could not be started",
        )
        await asyncio.to_thread(app.store.leases.release, run_id)
        raise
    log.info("started on-demand sweep %s", run_id)
    return json_response(
        {"runId": run_id, "statusUrl": f"/api/sweeps/{run_id}"}, 202, headers={"Location": f"/api/sweeps/{run_id}"}
    )


@bp.route(route="sweeps/{runId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The run's summary from Table Storage together with its orchestration status."""
    run_id = req.route_params.get("runId", "")
    if not is_run_id(run_id):
        return json_response({"error": "BadRequest", "reason": "not a run id"}, 400)
    app, refusal = configured()
    if app is None:
        assert refusal is not None
        return refusal
    try:
        run = await asyncio.to_thread(app.store.get_run, run_id)
        subscriptions = await asyncio.to_thread(app.store.subscriptions, run_id) if run and run.scope_count else []
    except STORAGE_ERRORS as error:
        return storage_unavailable(error)
    status = await client.get_status(run_id)
    if run is None and not (status and status.runtime_status):
        return json_response({"error": "NotFound", "runId": run_id}, 404)
    orchestration = {
        "runtimeStatus": status.runtime_status.value if status and status.runtime_status else None,
        "customStatus": status.custom_status if status else None,
        "createdTime": status.created_time if status else None,
        "lastUpdatedTime": status.last_updated_time if status else None,
    }
    summary = {
        "runId": run_id,
        "status": run.status if run else RunStatus.RUNNING,
        "run": to_json(run) if run else None,
        "orchestration": orchestration,
        "scope": sorted(s.subscription_id for s in subscriptions),
    }  # empty: every subscription
    return json_response(summary, 200)
