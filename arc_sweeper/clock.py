"""The product's one reading of wall-clock time outside orchestrations.

Orchestrations take time only from `context.current_utc_datetime`; everything else (the
daily timer's run id, on-demand run ids, the report's "as of") asks :func:`utc_now`. The
local stack points it at its virtual clock (:func:`use_clock`), so a simulated week of
daily timers gets the run ids `daily-YYYY-MM-DD` of the simulated days, as in Azure.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone


def _wall_clock() -> datetime:
    return datetime.now(timezone.utc)


_source: Callable[[], datetime] = _wall_clock


def utc_now() -> datetime:
    """Now, timezone-aware UTC."""
    return _source()


def use_clock(source: Callable[[], datetime] | None) -> None:
    """Read time from `source` from now on; None goes back to the wall clock."""
    global _source
    _source = source or _wall_clock
