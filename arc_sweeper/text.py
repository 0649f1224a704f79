"""Small text rules used everywhere: clipping, GUIDs, and the one URL redactor."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MAX_TEXT = 2000
"""Longest free text kept in a row: far below Azure Table's 64 KiB per string property."""

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_guid(text: str) -> bool:
    """The whole text is one GUID (a trailing newline or space is not)."""
    return GUID.fullmatch(text) is not None


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """At most `limit` characters of valid Unicode, marked with … when cut.

    Lone surrogates (possible in text from a remote error body) would break UTF-8
    encoding later, so they are replaced first.
    """
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact_url(url: str) -> str:
    """Scheme, host and port only: enough to tell which endpoint, nothing that can be secret.

    Secrets travel in the query (a Logic App callback's `sig`, a function `code`), in user
    info, or make up the path of a callback URL, so this is the form of any URL that may
    appear in a log, a row, an alert or an answer. An unparsable URL becomes a placeholder
    rather than being echoed.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "(unparsable URL)"
    if not parts.scheme or not parts.hostname:
        return "(unparsable URL)"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, "", "", ""))
