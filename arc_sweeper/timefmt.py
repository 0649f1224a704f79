"""Timestamps as the product stores them: ISO 8601 in UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(text: str) -> datetime | None:
    """Parse Azure's ISO 8601 forms (7 fractional digits, `Z`); None when unparsable."""
    text = (text or "").strip()
    if not text:
        return None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # Python accepts at most 6 fractional digits
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        value = datetime.fromisoformat(text)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        return None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
