"""Step 4: re-read the enabled machines of one batch, and their followed extensions, and record what became of them."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from typing import Protocol

from arc_sweeper.extensions import extension_outcome
from arc_sweeper.fleet import FleetLedger
from arc_sweeper.machine import MachineSnapshot
from arc_sweeper.messages import CheckCohort, CohortResult, Tally
from arc_sweeper.outcome_history import with_check
from arc_sweeper.outcomes import Followed, FollowUpRules, follow_up_outcome
from arc_sweeper.ports import ExtensionStore, FleetReader, MachineStore, RunStore, SubscriptionStore
from arc_sweeper.records import ExtensionRecord, MachineRecord
from arc_sweeper.releases import catalogue_of
from arc_sweeper.settings import Settings
from arc_sweeper.throttling import GraphQuota, QuotaGate
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.versions import parse_agent_version
from arc_sweeper.vocabulary import SETTLED_EXTENSION_OUTCOMES, SETTLED_OUTCOMES

log = logging.getLogger(__name__)


class FollowUpStore(RunStore, SubscriptionStore, MachineStore, ExtensionStore, Protocol):
    """What the follow-up reads (the batch's subscriptions and cohort) and writes (outcomes, their history)."""


@dataclass(frozen=True)
class FollowUpStep:
    settings: Settings
    store: FollowUpStore
    graph: FleetReader
    fleet: FleetLedger

    def check_cohort(self, check: CheckCohort) -> CohortResult:
        """Re-read the batch's cohort from Resource Graph and record each machine's outcome.

        A failed query raises (the activity is retried; then this poll of the batch is skipped
        and the next poll reads it again): nothing is concluded from a read that did not happen.
        """
        subscriptions = [
            s.subscription_id for s in self.store.subscriptions(check.run_id, check.batch_index) if s.in_scope
        ]
        cohort = [row for sub in subscriptions for row in self.store.machines(check.run_id, sub, enabled_only=True)]
        extensions = [
            row for sub in subscriptions for row in self.store.extensions(check.run_id, sub, followed_only=True)
        ]
        open_rows = [r for r in cohort if r.outcome not in SETTLED_OUTCOMES]
        open_extensions = [r for r in extensions if r.outcome not in SETTLED_EXTENSION_OUTCOMES]
        gate = QuotaGate(check.quota or GraphQuota(), max_wait_s=self.settings.max_retry_wait.total_seconds())
        if open_extensions:
            extensions = self._check_extensions(extensions, open_extensions, gate, check.checked_at)
        if not open_rows:
            return CohortResult(tally(cohort, extensions), gate.state())
        machines = list(self.graph.find_machines({r.subscription_id for r in open_rows}, gate))
        seen = {m.id.lower(): m for m in machines}
        versions = (parse_agent_version(m.agent_version) for m in seen.values())
        now = parse_timestamp(check.checked_at)
        assert now is not None, "checked_at comes from the orchestration clock"
        catalogue = catalogue_of(self.store.get_run(check.run_id), self.settings.releases.catalogue)
        rules = FollowUpRules(
            catalogue, catalogue.latest((v for v in versions if v), now.date()), self.settings.stuck_after
        )
        checked = [checked_row(r, seen.get(r.resource_id.lower()), rules, check.checked_at) for r in open_rows]
        self.store.put_machines(checked)
        self.fleet.record_outcomes(checked, check.checked_at)
        done = {r.row_key: r for r in checked}
        counts = tally([done.get(r.row_key, r) for r in cohort], extensions)
        self._remember(check, counts)
        return CohortResult(counts, gate.state())

    def _remember(self, check: CheckCohort, counts: Tally) -> None:
        """Keep the batch's machine outcome counts of the day on the run row (outcome_history.py).

        Read and replaced whole: the follow-up checks its batches one at a time and nothing
        else writes the run row while it follows.
        """
        run = self.store.get_run(check.run_id)
        if run is not None:
            self.store.put_run(
                replace(
                    run,
                    outcome_history=with_check(run.outcome_history, check.checked_at, check.batch_index, counts.counts),
                )
            )

    def _check_extensions(
        self, followed: list[ExtensionRecord], open_rows: list[ExtensionRecord], gate: QuotaGate, checked_at: str
    ) -> list[ExtensionRecord]:
        """Re-read the open extensions (one paged query) and record what each shows now; returns every followed row."""
        seen = {e.id.lower(): e for e in self.graph.find_extensions({r.subscription_id for r in open_rows}, gate)}
        checked = []
        for row in open_rows:
            now = seen.get(row.resource_id.lower())
            outcome, detail = extension_outcome(row, now)
            row = replace(row, outcome=outcome, outcome_detail=detail, updated_at=checked_at)
            checked.append(
                row if now is None else replace(row, version_now=now.version, status_message=now.status_message)
            )
        self.store.put_extensions(checked)
        self.fleet.record_extensions(checked, checked_at)
        done = {r.row_key: r for r in checked}
        return [done.get(r.row_key, r) for r in followed]


def checked_row(
    row: MachineRecord, machine: MachineSnapshot | None, rules: FollowUpRules, checked_at: str
) -> MachineRecord:
    """The cohort row with what this check saw and concluded."""
    now = parse_timestamp(checked_at)
    assert now is not None
    followed = Followed(row.enabled_at, row.agent_version_seen, row.failed_since, row.disconnected_since)
    update = follow_up_outcome(followed, machine, rules, now)
    if machine is not None:
        row = replace(
            row,
            agent_version_now=machine.agent_version,
            connection_status_now=machine.status,
            last_attempt_status=machine.last_attempt_status,
            last_attempt_message=machine.last_attempt_message,
            last_attempt_time=machine.last_attempt_timestamp,
        )
    return replace(
        row,
        outcome=update.outcome,
        outcome_detail=update.detail,
        failed_since=update.failed_since,
        disconnected_since=update.disconnected_since,
        recovered=row.recovered or update.recovered,
        updated_at=checked_at,
    )


def tally(cohort: list[MachineRecord], extensions: list[ExtensionRecord]) -> Tally:
    """Outcome counts of the machines and of their followed extensions, and what is still open."""
    return Tally(
        dict(Counter(str(r.outcome) for r in cohort)),
        sum(1 for r in cohort if r.outcome not in SETTLED_OUTCOMES)
        + sum(1 for r in extensions if r.outcome not in SETTLED_EXTENSION_OUTCOMES),
        dict(Counter(str(r.outcome) for r in extensions if r.outcome)),
    )
