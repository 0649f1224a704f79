"""The daily timer and `POST/GET /api/sweeps`: thin code around the durable client.

Validation and run ids live in arc_sweeper.sweep_requests; here we only talk to the
durable client and shape HTTP responses. Responses never echo secrets: errors carry
reasons (an invalid app setting is named, a secret one never shown), and the status URL
we hand out carries no key.
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import asdict
from datetime import datetime, timezone

import azure.durable_functions as df
import azure.functions as func

from arc_sweeper.clock import utc_now
from arc_sweeper.messages import SweepRequest
from arc_sweeper.runtime import Steps, steps
from arc_sweeper.settings import SettingsError
from arc_sweeper.sweep_requests import (
    BadSweepRequest, daily_run_id, is_run_id, on_demand_run_id, parse_sweep_body, scopes_overlap,
)
from arc_sweeper.timefmt import iso
from arc_sweeper.vocabulary import RunPhase, RunStatus, Trigger

log = logging.getLogger(__name__)
bp = df.Blueprint()

ORCHESTRATOR = "sweep_orchestrator"
LIVE_STATES = {df.OrchestrationRuntimeStatus.Running, df.OrchestrationRuntimeStatus.Pending}


def _json(body: dict, status: int, headers: dict | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status,
                             mimetype="application/json", headers=headers)


def _configured() -> tuple[Steps | None, func.HttpResponse | None]:
    """The sweep's steps, or a 500 naming every invalid app setting (secret values are never shown)."""
    try:
        return steps(), None
    except SettingsError as error:
        log.error("invalid app settings: %s", error)
        return None, _json({"error": "InvalidAppSettings", "reason": str(error)}, 500)


async def _is_live(client: df.DurableOrchestrationClient, instance_id: str) -> bool:
    status = await client.get_status(instance_id)
    return bool(status) and status.runtime_status in LIVE_STATES


@bp.timer_trigger(schedule="%SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
@bp.durable_client_input(client_name="client")
async def daily_sweep(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    """Start today's sweep once: the instance id is the date, so a second firing finds it."""
    run_id = daily_run_id(utc_now().date())
    try:
        app = steps()  # fail here, not in the orchestration, and leave today's run id unused
    except SettingsError as error:
        log.error("not starting sweep %s: %s", run_id, error)
        raise RuntimeError(f"not starting sweep {run_id}: {error}") from None
    existing = await client.get_status(run_id)
    if existing and existing.runtime_status is not None:
        log.info("sweep %s already exists (%s); not starting another", run_id, existing.runtime_status)
        return
    try:
        await client.start_new(ORCHESTRATOR, run_id, SweepRequest(run_id, Trigger.TIMER).to_json())
    except Exception as error:  # the extension refuses a duplicate id if another firing won the race
        if await _is_live(client, run_id):
            log.info("sweep %s was started concurrently", run_id)
            return
        raise RuntimeError(f"could not start sweep {run_id}: {error}") from error
    log.info("started sweep %s (past due: %s)", run_id, timer.past_due)
    await _purge_old_instances(client, app.settings.history_retention)


async def _purge_old_instances(client: df.DurableOrchestrationClient, retention) -> None:
    """Keep the task hub small: finished instances older than HISTORY_RETENTION go.

    The runs, machines and fleet tables keep the product's record; this is only the
    orchestration history. A failure here is logged and never stops the day's sweep.
    """
    try:
        result = await client.purge_instance_history_by(
            created_time_from=datetime(2000, 1, 1, tzinfo=timezone.utc),
            created_time_to=utc_now() - retention,
            runtime_status=[df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Failed,
                            df.OrchestrationRuntimeStatus.Terminated],
        )
        log.info("purged %s finished orchestration instances older than %s", result.instances_deleted, retention)
    except Exception as error:  # noqa: BLE001 - housekeeping only
        log.warning("could not purge old orchestration history: %s: %s", type(error).__name__, error)


@bp.route(route="sweeps", methods=["POST"])
@bp.durable_client_input(client_name="client")
async def start_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Start an on-demand sweep; 409 while an overlapping sweep is still enabling machines."""
    now = utc_now()
    run_id = on_demand_run_id(now, secrets.token_hex(4))
    try:
        request = parse_sweep_body(req.get_body(), run_id)
    except BadSweepRequest as error:
        return _json({"error": "BadRequest", "reason": str(error)}, 400)
    app, refusal = _configured()
    if app is None:
        return refusal
    scope = request.subscriptions or app.settings.subscription_allow_list
    for run in await asyncio.to_thread(app.store.runs_with_status, RunStatus.RUNNING):
        if scopes_overlap(scope, run.scope) and await _is_live(client, run.run_id):
            return _json({"error": "Conflict", "runId": run.run_id,
                          "reason": "a sweep over an overlapping scope is still enabling machines"}, 409)
    # Recorded as running before it starts, so an overlapping request made meanwhile gets 409.
    await asyncio.to_thread(app.scope.record_request, request, iso(now))
    try:
        await client.start_new(ORCHESTRATOR, run_id, request.to_json())
    except Exception:
        await asyncio.to_thread(app.store.update_run, run_id, status=RunStatus.FAILED, phase=RunPhase.DONE,
                                error="the orchestration could not be started")
        raise
    log.info("started on-demand sweep %s", run_id)
    management = client.create_check_status_response(req, run_id)
    urls = json.loads(management.get_body())
    return _json({"runId": run_id, "statusUrl": f"/api/sweeps/{run_id}", "management": urls}, 202,
                 headers={"Location": f"/api/sweeps/{run_id}"})


@bp.route(route="sweeps/{runId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
async def get_sweep(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The run's summary from Table Storage together with its orchestration status."""
    run_id = req.route_params.get("runId", "")
    if not is_run_id(run_id):
        return _json({"error": "BadRequest", "reason": "not a run id"}, 400)
    app, refusal = _configured()
    if app is None:
        return refusal
    run = await asyncio.to_thread(app.store.get_run, run_id)
    status = await client.get_status(run_id)
    if run is None and not (status and status.runtime_status):
        return _json({"error": "NotFound", "runId": run_id}, 404)
    orchestration = {
        "runtimeStatus": status.runtime_status.value if status and status.runtime_status else None,
        "customStatus": status.custom_status if status else None,
        "createdTime": status.created_time if status else None,
        "lastUpdatedTime": status.last_updated_time if status else None,
    }
    summary = {"runId": run_id, "status": run.status if run else RunStatus.RUNNING,
               "run": asdict(run) if run else None, "orchestration": orchestration}
    return _json(summary, 200)
