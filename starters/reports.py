"""`GET /api/sweeps/{runId}/report` and `GET /api/report`: the run report as one HTML page.

Auth level FUNCTION, like the rest of the API. The page is read from the tables only
(arc_sweeper.reporting.page): it holds no key or secret and loads nothing. The response
repeats the page's Content-Security-Policy and sends no Referer on its portal links, so
the `code` a browser was given in the URL never leaves for another site.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import azure.functions as func

from arc_sweeper.clock import utc_now
from arc_sweeper.reporting.page import (
    CONTENT_SECURITY_POLICY,
    ReportStore,
    latest_completed_run,
    load_page,
    render_page,
)
from arc_sweeper.sweep_requests import is_run_id
from arc_sweeper.timefmt import iso
from starters.responses import configured, json_response

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
        return json_response({"error": "BadRequest", "reason": "not a run id"}, 400)
    return await _report(lambda store: run_id)


@bp.route(route="report", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def get_latest_report(req: func.HttpRequest) -> func.HttpResponse:
    """The report of the latest completed run; 404 until a run has completed."""
    return await _report(latest_completed_run)


async def _report(choose: Callable[[ReportStore], str | None]) -> func.HttpResponse:
    """The page of the run `choose` picks from the tables."""
    app, refusal = configured()
    if app is None:
        return refusal

    def render() -> tuple[str | None, str | None]:
        run_id = choose(app.store)
        page = None if run_id is None else load_page(app.store, run_id, generated_at=iso(utc_now()))
        return run_id, None if page is None else render_page(page)

    run_id, html = await asyncio.to_thread(render)
    if html is None:
        return json_response(
            {"error": "NotFound", "runId": run_id}
            if run_id
            else {"error": "NotFound", "reason": "no run has completed yet"},
            404,
        )
    return func.HttpResponse(html, status_code=200, mimetype="text/html", charset="utf-8", headers=HEADERS)
