"""The release catalogue at an https URL: fetched once per run over the one HTTP stack.

Entry point: :func:`fetch_catalogue`. The URL may be a blob with a SAS token, so it is only ever
shown as scheme and host. Whatever goes wrong (no answer, not 200, too large, not a valid
catalogue) is a CatalogueError; the run then falls back to the bundled catalogue and says so.
"""

from __future__ import annotations

import json

from azure.core.exceptions import AzureError, DecodeError
from azure.core.rest import HttpRequest

from arc_sweeper.catalogue import CatalogueError, ReleaseCatalogue
from arc_sweeper.endpoints import is_loopback_url
from arc_sweeper.http_pipeline import HttpLimits, pipeline_client
from arc_sweeper.text import redact_url

FEED_LIMITS = HttpLimits(
    retries=2,
    backoff_s=1.0,
    backoff_max_s=5.0,
    max_retry_after_s=10.0,
    connect_timeout_s=5.0,
    read_timeout_s=10.0,
    deadline_s=30.0,
    max_body_bytes=1024 * 1024,
)
"""Half a minute at most, a megabyte at most: a catalogue is a few kilobytes."""


def fetch_catalogue(url: str, limits: HttpLimits = FEED_LIMITS) -> ReleaseCatalogue:
    origin = redact_url(url)
    if not url.lower().startswith("https://") and not is_loopback_url(url):
        raise CatalogueError(origin, "the catalogue URL must be https")
    try:
        with pipeline_client(origin, limits) as client:
            response = client.send_request(HttpRequest("GET", url))
    except DecodeError:  # the pipeline decodes a JSON body as it arrives
        raise CatalogueError(origin, "not valid JSON") from None
    except (AzureError, ValueError) as error:
        raise CatalogueError(origin, f"no answer: {type(error).__name__}") from None
    if response.status_code != 200:
        raise CatalogueError(origin, f"answered HTTP {response.status_code}")
    try:
        data = json.loads(response.text())
    except (ValueError, UnicodeDecodeError):
        raise CatalogueError(origin, "not valid JSON") from None
    return ReleaseCatalogue.from_json(data, origin)
