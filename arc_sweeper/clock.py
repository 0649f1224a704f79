"""Wall-clock time for the code that runs outside an orchestration (the starters and the CLI).

Orchestrations and their activities take time from `context.current_utc_datetime`; the
timer and HTTP starters read this instead of `datetime.now`, so the local stack can run
them on its virtual clock as the Functions host would run them on the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def _system_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system_now


def utc_now() -> datetime:
    return _source()


def use(source: Callable[[], datetime] | None) -> None:
    """Read time from `source` (the local stack's virtual clock); None goes back to the system clock."""
    global _source
    _source = source or _system_now
