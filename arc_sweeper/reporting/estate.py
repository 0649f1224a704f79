"""The numbers behind the report's charts, computed from table rows (pure).

Every figure here is a count of rows the sweeper keeps (docs/data-contract.md), so a test
can check the report against the tables: agent releases from a run's machine rows, the
follow-up's days from the run row's `outcome_history`, and the estate's trend from the
runs table (and, for machines seen for the first time, the fleet table).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from arc_sweeper.outcome_history import daily_totals
from arc_sweeper.records import FleetRecord, MachineRecord, RunRecord
from arc_sweeper.versions import Release, format_release, parse_agent_version
from arc_sweeper.vocabulary import EnableResult, Finding, Outcome, RunStatus

SUPPORT_CLASSES: tuple[tuple[str, str], ...] = (
    ("supported", "Supported"),
    (Finding.OUT_OF_SUPPORT, "Out of support"),
    (Finding.TOO_OLD_FOR_AUTO_UPGRADE, "Too old for automatic upgrade"),
    (Finding.UNKNOWN_VERSION, "Version unreadable"),
)
"""How a machine's agent stands (name, label), the order charts and tables use."""
UNREADABLE = "unreadable"
"""The release label of agents whose version could not be read."""
MAX_TREND_RUNS = 30


def support_class(row: MachineRecord) -> str:
    """How the row's agent stands: too old beats out of support, which beats supported."""
    if Finding.TOO_OLD_FOR_AUTO_UPGRADE in row.findings:
        return Finding.TOO_OLD_FOR_AUTO_UPGRADE
    if Finding.OUT_OF_SUPPORT in row.findings:
        return Finding.OUT_OF_SUPPORT
    if parse_agent_version(row.agent_version_seen) is None:
        return Finding.UNKNOWN_VERSION
    return "supported"


@dataclass(frozen=True)
class ReleaseCount:
    release: str  # "1.67", or UNREADABLE
    support: str  # one of SUPPORT_CLASSES' names
    machines: int


def releases_in_use(rows: Iterable[MachineRecord]) -> list[ReleaseCount]:
    """Machines per agent release (as discovered) and support class, oldest release first."""
    counts: Counter[tuple[Release | None, str]] = Counter()
    for row in rows:
        version = parse_agent_version(row.agent_version_seen)
        counts[(version.release if version else None, support_class(row))] += 1
    order = {name: index for index, (name, _) in enumerate(SUPPORT_CLASSES)}
    return [
        ReleaseCount(format_release(release) if release else UNREADABLE, support, machines)
        for (release, support), machines in sorted(
            counts.items(), key=lambda item: (item[0][0] is None, item[0][0] or (0, 0), order[item[0][1]])
        )
    ]


@dataclass(frozen=True)
class TrendPoint:
    """One run of the estate's trend."""

    run_id: str
    day: str  # YYYY-MM-DD the run started
    dry_run: bool
    machines_seen: int
    compliant: int
    enabled: int  # automatic upgrade turned on by this run
    failing: int  # machines under follow-up (any run) whose upgrade failed, at the end of the day
    stuck: int  # machines under follow-up (any run) stuck, at the end of the day
    new_machines: int  # machines the fleet table first saw since the run before

    @property
    def compliant_share(self) -> float:
        return self.compliant / self.machines_seen if self.machines_seen else 0.0


def trend(run: RunRecord, runs: Iterable[RunRecord], fleet: Iterable[FleetRecord]) -> list[TrendPoint]:
    """The estate run by run: runs over the same scope as `run` that did not fail, the latest MAX_TREND_RUNS.

    Failing and stuck add up, for the run's day, every comparable run's follow-up that was
    under way then (its outcome counts at the end of that day); cohorts never overlap, as a
    machine is enabled once. New machines are fleet rows first seen since the run before.
    """
    comparable = sorted(
        (r for r in runs if r.scope_digest == run.scope_digest and r.status != RunStatus.FAILED and r.machines_seen),
        key=lambda r: r.started_at,
    )
    starts = [r.started_at for r in comparable]
    first_seen = Counter(bisect.bisect_right(starts, f.first_seen_at) - 1 for f in fleet if f.first_seen_at)
    histories = [(r, daily_totals(r.outcome_history)) for r in comparable if r.outcome_history]
    points = []
    for index, point in enumerate(comparable):
        day = point.started_at[:10]
        under_way = [
            _as_of(days, day)
            for r, days in histories
            if r.started_at[:10] <= day and (not r.ended_at or r.ended_at[:10] >= day)
        ]
        points.append(
            TrendPoint(
                run_id=point.run_id,
                day=day,
                dry_run=point.dry_run,
                machines_seen=point.machines_seen,
                compliant=point.finding_counts.get(Finding.COMPLIANT, 0),
                enabled=point.result_counts.get(EnableResult.ENABLED, 0),
                failing=sum(counts.get(Outcome.UPGRADE_FAILED, 0) for counts in under_way),
                stuck=sum(counts.get(Outcome.STUCK, 0) for counts in under_way),
                new_machines=first_seen.get(index, 0),
            )
        )
    return points[-MAX_TREND_RUNS:]


def _as_of(days: Mapping[str, Mapping[str, int]], day: str) -> Mapping[str, int]:
    """The counts at the end of `day`: the latest day with a check up to then (none before the first)."""
    earlier = [d for d in days if d <= day]
    return days[max(earlier)] if earlier else {}
