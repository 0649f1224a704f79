"""The follow-up's outcome counts per day, kept on the run row as `outcome_history`.

The run row's `outcome_counts` say where a cohort ended; a report also wants the way
there (how many were pending, failing, stuck on each day of the follow-up). Each check
of a follow-up batch records that batch's counts under the UTC day of the check, a later
check the same day replacing them, so a retried check writes the same entry again. The
run's counts on a day add up every batch's latest counts up to that day: a batch whose
check failed that day, or that had nothing left to check, carries over.

Size: one small map per followed batch per day of the follow-up window.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from arc_sweeper.timefmt import parse_timestamp

OutcomeHistory = dict[str, dict[str, dict[str, int]]]
"""{day "YYYY-MM-DD": {batch index: {outcome: machines}}}"""


def with_check(history: OutcomeHistory, checked_at: str, batch_index: int, counts: Mapping[str, int]) -> OutcomeHistory:
    """The history with one batch's counts from a check at `checked_at` (ISO 8601)."""
    moment = parse_timestamp(checked_at)
    if moment is None:
        raise ValueError(f"checked_at is not an ISO 8601 time: {checked_at!r}")
    day = moment.date().isoformat()
    return {**history, day: {**history.get(day, {}), str(batch_index): dict(counts)}}


def daily_totals(history: OutcomeHistory) -> dict[str, dict[str, int]]:
    """{day: {outcome: machines}} for the whole cohort at the end of each day with a check, oldest first."""
    latest: dict[str, dict[str, int]] = {}
    totals: dict[str, dict[str, int]] = {}
    for day in sorted(history):
        latest.update(history[day])
        day_total: Counter[str] = Counter()
        for counts in latest.values():
            day_total.update(counts)
        totals[day] = dict(day_total)
    return totals
