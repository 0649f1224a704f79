"""What every HTTP starter answers with: JSON bodies, and the two ways it can fail before doing anything.

Invalid app settings are a 500 naming each (secret values never shown); storage that cannot be
reached is a 503 with Retry-After, and nothing was started.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError

from arc_sweeper.leases import LeaseContended
from arc_sweeper.runtime import Steps, steps
from arc_sweeper.settings import SettingsError
from arc_sweeper.text import clip

log = logging.getLogger(__name__)

STORAGE_ERRORS = (AzureError, LeaseContended)


def json_response(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str), status_code=status, mimetype="application/json", headers=headers
    )


def configured() -> tuple[Steps | None, func.HttpResponse | None]:
    """The sweep's steps, or a 500 naming every invalid app setting (secret values are never shown)."""
    try:
        return steps(), None
    except SettingsError as error:
        log.error("invalid app settings: %s", error)
        return None, json_response({"error": "InvalidAppSettings", "reason": str(error)}, 500)


def storage_unavailable(error: Exception) -> func.HttpResponse:
    """503: Table Storage could not be reached; nothing was started."""
    reason = clip(f"Table Storage is unavailable ({type(error).__name__}); nothing was started, try again later", 300)
    log.error("storage unavailable: %s: %s", type(error).__name__, error)
    return json_response({"error": "StorageUnavailable", "reason": reason}, 503, headers={"Retry-After": "60"})
