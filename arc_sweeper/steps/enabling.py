"""Step 3: PATCH one chunk of one subscription's machines, each exactly once."""
from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace

from arc_sweeper.fleet import FleetLedger
from arc_sweeper.messages import EnableChunk, Tally
from arc_sweeper.ports import MachineStore, MachineWriter, PatchOutcome
from arc_sweeper.records import MachineRecord
from arc_sweeper.settings import Settings
from arc_sweeper.text import clip
from arc_sweeper.vocabulary import EnableResult, Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnablingStep:
    settings: Settings
    store: MachineStore
    arm: MachineWriter
    fleet: FleetLedger

    def enable_chunk(self, work: EnableChunk) -> Tally:
        """PATCH one chunk; rows already decided (by an earlier attempt) are never sent again."""
        chunk = {r.row_key: r for r in self.store.machines(work.run_id, work.subscription_id,
                                                           enable_chunk=work.chunk_index)}
        todo = [r for r in chunk.values() if r.action_result == EnableResult.NOT_ATTEMPTED]
        if work.dry_run:
            decided = [replace(r, action_result=EnableResult.DRY_RUN, updated_at=work.as_of) for r in todo]
            self.store.put_machines(decided)
            chunk.update((r.row_key, r) for r in decided)
        else:
            errors: list[BaseException] = []
            with ThreadPoolExecutor(max_workers=self.settings.max_parallel_writes_per_subscription) as pool:
                futures = {pool.submit(self.arm.enable_automatic_upgrade, r.resource_id): r for r in todo}
                for future in as_completed(futures):
                    error = future.exception()
                    if error is not None:  # outcome unknown: left for the retry
                        errors.append(error)
                        continue
                    # Written one by one, as soon as known: a retry must not PATCH it again.
                    row = with_patch_outcome(futures[future], future.result(), work.as_of)
                    self.store.put_machines([row])
                    chunk[row.row_key] = row
            if errors:
                # Only now, with every other outcome recorded: the activity's retry PATCHes just these.
                raise errors[0]
        results = list(chunk.values())
        refused = Counter(f"{r.arm_http_status} {r.arm_error_code}" for r in results
                          if r.action_result == EnableResult.FAILED)
        if refused:
            log.warning("run %s subscription %s chunk %d: %d PATCHes refused (%s)", work.run_id,
                        work.subscription_id, work.chunk_index, sum(refused.values()),
                        ", ".join(f"{n} x {reason}" for reason, n in refused.most_common()))
        self.fleet.record_enable_results(work.subscription_id, results, work.as_of)
        return Tally(dict(Counter(str(r.action_result) for r in results)))


def with_patch_outcome(row: MachineRecord, outcome: PatchOutcome, as_of: str) -> MachineRecord:
    if outcome.succeeded:
        return replace(row, action_result=EnableResult.ENABLED, arm_http_status=outcome.http_status or 0,
                       enabled_at=as_of, outcome=Outcome.PENDING, outcome_detail="waiting for the agent",
                       updated_at=as_of)
    return replace(row, action_result=EnableResult.FAILED, arm_http_status=outcome.http_status or 0,
                   arm_error_code=outcome.error_code, arm_error_message=clip(outcome.error_message),
                   updated_at=as_of)
