"""`GET /api/rings` and `POST /api/rings/{ring}/open`: the staged rollout's state, and opening a ring by hand.

An operator who has looked at a held ring (or wants a ring early) opens it with a reason; the
decision is recorded with who (the signed-in principal when App Service authentication is on,
else "a function key holder") and when, and the gate never closes that ring again.
"""

from __future__ import annotations

import asyncio
import json
import logging

import azure.durable_functions as df
import azure.functions as func

from arc_sweeper.serialization import to_json
from arc_sweeper.steps.rings import RingsNotConfigured
from arc_sweeper.text import clip
from starters.responses import STORAGE_ERRORS, configured, json_response, storage_unavailable

log = logging.getLogger(__name__)
bp = df.Blueprint()
MAX_REASON = 500


@bp.route(route="rings", methods=["GET"])
async def list_rings(req: func.HttpRequest) -> func.HttpResponse:
    app, refusal = configured()
    if app is None:
        assert refusal is not None
        return refusal
    try:
        rings = await asyncio.to_thread(app.rings.all)
    except STORAGE_ERRORS as error:
        return storage_unavailable(error)
    has_rings = app.settings.ring_policy is not None
    return json_response({"configured": has_rings, "rings": [to_json(r) for r in rings]}, 200)


@bp.route(route="rings/{ring}/open", methods=["POST"])
async def open_ring(req: func.HttpRequest) -> func.HttpResponse:
    ring_text = req.route_params.get("ring", "")
    if not (ring_text.isascii() and ring_text.isdigit() and len(ring_text) <= 4):
        return json_response({"error": "BadRequest", "reason": "the ring is a whole number, such as 1"}, 400)
    try:
        body = json.loads(req.get_body() or b"{}")
    except (ValueError, RecursionError):
        return json_response({"error": "BadRequest", "reason": 'body must be JSON: {"reason": "..."}'}, 400)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        return json_response(
            {"error": "BadRequest", "reason": f'say why: {{"reason": "..."}}, 1 to {MAX_REASON} characters'}, 400
        )
    app, refusal = configured()
    if app is None:
        assert refusal is not None
        return refusal
    who = clip(req.headers.get("x-ms-client-principal-name") or "a function key holder", 200)
    try:
        if app.settings.ring_policy is None:
            raise RingsNotConfigured("no rings are configured (RING_TAG and RING_SUBSCRIPTIONS are blank)")
        record = await asyncio.to_thread(app.rings.open_by_hand, int(ring_text), who, reason.strip())
    except RingsNotConfigured as error:
        return json_response({"error": "Conflict", "reason": str(error)}, 409)
    except STORAGE_ERRORS as error:
        return storage_unavailable(error)
    return json_response({"ring": to_json(record)}, 200)
