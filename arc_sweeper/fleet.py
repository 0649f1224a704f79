"""The fleet table: the latest known state of every machine across runs.

One owner: every step that learns something about a machine tells the ledger, and only
the ledger writes the table. One definition of "failing" (the machine's latest automatic
upgrade attempt failed) serves discovery and follow-up alike, so `failing_since` means
the same thing whichever step saw it first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from arc_sweeper.extensions import extension_attention, fleet_state
from arc_sweeper.ports import FleetStore
from arc_sweeper.records import ExtensionRecord, FleetRecord, MachineRecord
from arc_sweeper.resource_ids import machine_key
from arc_sweeper.vocabulary import EnableResult, Finding


def upgrade_failing(row: MachineRecord) -> bool:
    """The latest automatic upgrade attempt Azure reports for this machine failed."""
    return row.last_attempt_status.strip().casefold() == "failed"


@dataclass(frozen=True)
class FleetLedger:
    store: FleetStore

    def record_discovery(self, rows: Iterable[MachineRecord], as_of: str) -> None:
        """What discovery saw: findings, action, version; first-seen and non-compliance dates.

        Every subscription's rows in one write, so their transactions are sent several at once."""
        seen: list[FleetRecord] = []
        for subscription_id, members in _by_subscription(rows).items():
            known = self.store.fleet(subscription_id)
            seen += [self._seen(known.get(row.row_key), row, as_of) for row in members]
        self.store.put_fleet(seen)

    def record_enable_results(self, subscription_id: str, rows: Iterable[MachineRecord], as_of: str) -> None:
        """The enabling result of each machine, merged without reading the rows back."""
        self.store.merge_fleet(
            subscription_id,
            {
                row.row_key: {
                    "last_result": str(row.action_result),
                    "updated_at": as_of,
                    **({"enabled_at": row.enabled_at} if row.action_result == EnableResult.ENABLED else {}),
                }
                for row in rows
            },
        )

    def record_outcomes(self, rows: Iterable[MachineRecord], as_of: str) -> None:
        """What the follow-up saw; machines the fleet table does not know are left alone."""
        updated = []
        for subscription_id, members in _by_subscription(rows).items():
            known = self.store.fleet(subscription_id)
            for row in members:
                before = known.get(row.row_key)
                if before is not None:
                    updated.append(
                        replace(
                            before,
                            last_outcome=row.outcome,
                            updated_at=as_of,
                            agent_version=row.agent_version_now or before.agent_version,
                            failing_since=_failing_since(before, row, as_of),
                        )
                    )
        self.store.put_fleet(updated)

    def record_extensions(
        self, rows: Iterable[ExtensionRecord], as_of: str, *, machines: Iterable[MachineRecord] = ()
    ) -> None:
        """Each machine's extensions as the run saw them.

        `machines` are the run's machines: their extension lists are replaced whole (one that
        lost every extension shows none). Otherwise (the follow-up) the rows are merged in.
        """
        rows = list(rows)
        complete = {(m.subscription_id, m.row_key) for m in machines}
        per_machine: dict[tuple[str, str], list[ExtensionRecord]] = {key: [] for key in complete}
        for row in rows:
            per_machine.setdefault((row.subscription_id, machine_key(row.machine_id)), []).append(row)
        by_subscription: dict[str, dict[str, list[ExtensionRecord]]] = {}
        for (subscription_id, key), members in per_machine.items():
            by_subscription.setdefault(subscription_id, {})[key] = members
        updated = []
        for subscription_id, machines_rows in by_subscription.items():
            known = self.store.fleet(subscription_id)
            for key, members in machines_rows.items():
                before = known.get(key)
                if before is None:
                    continue
                whole = (subscription_id, key) in complete
                states = {r.name: fleet_state(r) for r in members}
                attention = {r.name for r in members if extension_attention(r)}
                kept = set() if whole else set(before.extensions_needing_attention) - set(states)
                updated.append(
                    replace(
                        before,
                        extensions=states if whole else {**before.extensions, **states},
                        extensions_needing_attention=tuple(sorted(kept | attention)),
                        updated_at=as_of,
                    )
                )
        self.store.put_fleet(updated)

    @staticmethod
    def _seen(before: FleetRecord | None, row: MachineRecord, as_of: str) -> FleetRecord:
        before = before or FleetRecord(row.resource_id, row.subscription_id, row.name, first_seen_at=as_of)
        compliant = row.findings == (Finding.COMPLIANT,)
        return replace(
            before,
            name=row.name,
            last_seen_at=as_of,
            last_run_id=row.run_id,
            agent_version=row.agent_version_seen,
            last_findings=row.findings,
            last_action=row.action,
            last_result=row.action_result,
            updated_at=as_of,
            ring=row.ring,
            first_noncompliant_at="" if compliant else (before.first_noncompliant_at or as_of),
            failing_since=_failing_since(before, row, as_of),
        )


def _failing_since(before: FleetRecord, row: MachineRecord, as_of: str) -> str:
    if not upgrade_failing(row):
        return ""
    return before.failing_since or row.failed_since or row.last_attempt_time or as_of


def _by_subscription(rows: Iterable[MachineRecord]) -> dict[str, list[MachineRecord]]:
    grouped: dict[str, list[MachineRecord]] = {}
    for row in rows:
        grouped.setdefault(row.subscription_id, []).append(row)
    return grouped
