"""Durations in settings: ISO 8601 (`P7D`, `PT12H`) or short forms (`7d`, `12h`).

Years and months are refused because their length varies, which would make "follow the
upgrade for P1M" mean different things in different months.
"""

from __future__ import annotations

import re
from datetime import timedelta

ACCEPTED_FORMS = (
    "ISO 8601 with weeks, days, hours, minutes and whole seconds (P7D, PT12H, P1DT6H, PT30M,"
    " PT45S, P1W) or a short form (30s, 15m, 12h, 7d, 1w, 1d12h); no years or months"
)

_ISO_DURATION = re.compile(
    r"""P (?:(?P<weeks>[0-9]+)W)? (?:(?P<days>[0-9]+)D)?
        (?:T (?=[0-9]) (?:(?P<hours>[0-9]+)H)? (?:(?P<minutes>[0-9]+)M)? (?:(?P<seconds>[0-9]+)S)? )?""",
    re.VERBOSE | re.IGNORECASE,
)
_ISO_YEARS_OR_MONTHS = re.compile(r"P(?:[0-9]+[WD])*[0-9]+[YM]", re.IGNORECASE)
_SHORT_DURATION = re.compile(
    r"""(?:(?P<weeks>[0-9]+)w)? (?:(?P<days>[0-9]+)d)? (?:(?P<hours>[0-9]+)h)?
        (?:(?P<minutes>[0-9]+)m)? (?:(?P<seconds>[0-9]+)s)?""",
    re.VERBOSE | re.IGNORECASE,
)


def parse_duration(text: str) -> timedelta:
    """Read a positive duration; raises ValueError saying which forms are accepted."""
    stripped = text.strip()
    if _ISO_YEARS_OR_MONTHS.match(stripped):
        raise ValueError(f"years and months are ambiguous in length; expected {ACCEPTED_FORMS}")
    match = _ISO_DURATION.fullmatch(stripped) or _SHORT_DURATION.fullmatch(stripped)
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"expected {ACCEPTED_FORMS}")
    try:
        duration = timedelta(**{unit: int(amount) for unit, amount in match.groupdict().items() if amount})
    except (OverflowError, ValueError) as error:  # ValueError: more digits than int() reads
        raise ValueError("duration is too long") from error
    if duration <= timedelta(0):
        raise ValueError(f"duration must be longer than zero; expected {ACCEPTED_FORMS}")
    return duration


def format_duration(duration: timedelta) -> str:
    """ISO 8601 in days, hours, minutes and seconds: `P7D`, `PT12H`, `P1DT6H`, `PT0S`.

    Never uses weeks or months, so the output reads the same in every month. Sub-second
    parts show as a decimal fraction of seconds (`PT0.5S`); negative durations get a
    leading minus (`-P1D`), a common extension of ISO 8601.
    """
    if duration < timedelta(0):
        return "-" + format_duration(-duration)
    hours, remainder = divmod(duration.seconds, 3600)
    minutes, seconds = divmod(remainder, 60)
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if seconds or duration.microseconds:
        fraction = f".{duration.microseconds:06d}".rstrip("0") if duration.microseconds else ""
        time += f"{seconds}{fraction}S"
    date_part = f"{duration.days}D" if duration.days else ""
    if not date_part and not time:
        return "PT0S"
    return f"P{date_part}" + (f"T{time}" if time else "")
