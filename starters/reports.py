"""`GET /api/sweeps/{runId}/report` and `GET /api/report`: the run report as one HTML page.

Auth level FUNCTION, like the rest of the API. The page is read from the tables only
(arc_sweeper.reporting.page): it holds no key or secret and loads nothing. The response
repeats the page's Content-Security-Policy and sends no Referer on its portal links, so
the `code` a browser was given in the URL never leaves for another site.
"""
from __future__ import annotations

import asyncio

import azure.functions as func

from arc_sweeper.clock import utc_now
from arc_sweeper.reporting.page import CONTENT_SECURITY_POLICY, latest_completed_run, load_page, render_page
from arc_sweeper.runtime import Steps
from arc_sweeper.sweep_requests import is_run_id
from arc_sweeper.timefmt import iso
from starters.triggers import _configured, _json

bp = func.Blueprint()

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",  # a run being followed changes with every check
}


@bp.route(route="sweeps/{runId}/report", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def get_sweep_report(req: func.HttpRequest) -> func.HttpResponse:
    """The report of one run; 404 for a run the runs table does not know."""
    run_id = req.route_params.get("runId", "")
    if not is_run_id(run_id):
        return _json({"error": "BadRequest", "reason": "not a run id"}, 400)
    app, refusal = _configured()
    if app is None:
        return refusal
    return await _report(app, run_id)


@bp.route(route="report", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def get_latest_report(req: func.HttpRequest) -> func.HttpResponse:
    """The report of the latest completed run; 404 until a run has completed."""
    app, refusal = _configured()
    if app is None:
        return refusal
    run_id = await asyncio.to_thread(latest_completed_run, app.store)
    if run_id is None:
        return _json({"error": "NotFound", "reason": "no run has completed yet"}, 404)
    return await _report(app, run_id)


async def _report(app: Steps, run_id: str) -> func.HttpResponse:
    def page() -> str | None:
        loaded = load_page(app.store, run_id, generated_at=iso(utc_now()))
        return None if loaded is None else render_page(loaded)

    html = await asyncio.to_thread(page)
    if html is None:
        return _json({"error": "NotFound", "runId": run_id}, 404)
    return func.HttpResponse(html, status_code=200, mimetype="text/html", charset="utf-8", headers=HEADERS)
