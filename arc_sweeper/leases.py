"""One enabling sweep per overlapping scope: a lease held in Table Storage, taken atomically.

A sweep that will write takes the lease for its scope before it starts and gives it back
when enabling ends (or the run fails). Two scopes overlap when they share a subscription;
an empty scope means every subscription and overlaps everything. Taking the lease is a
compare-and-swap on one guard row (Table Storage's ETag condition), so two starters racing
for overlapping scopes cannot both win, on any number of instances. Each holder's scope
is kept in a row of its own (a thousand subscription ids do not fit in one property).

A crashed holder does not block forever: its entry runs out after ENABLING_LEASE, and the
starters also evict a holder whose orchestration is no longer running.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from arc_sweeper.timefmt import iso, parse_timestamp

log = logging.getLogger(__name__)

PARTITION = "enabling"
GUARD = "guard"
IDS_PER_PROPERTY = 500
"""Subscription ids per string property of a scope row: 500 x 37 characters stays far below 32K."""
ATTEMPTS = 20


class LeaseContended(Exception):
    """The guard row kept changing under us; the caller may try again later."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    until: str  # ISO 8601 UTC
    everything: bool  # the scope is every subscription


def overlaps(first: Collection[str], second: Collection[str]) -> bool:
    """Empty means every subscription, which overlaps any scope."""
    return not first or not second or bool({s.lower() for s in first} & {s.lower() for s in second})


class EnablingLeases:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def acquire(
        self, run_id: str, scope: Collection[str], now: datetime, ttl: timedelta, evict: Iterable[str] = ()
    ) -> str | None:
        """Take the lease for `scope`; returns None when taken, else the run id of a holder in the way.

        Holders whose lease ran out, and those in `evict` (the caller found their orchestration
        no longer running), are dropped in the same swap.
        """
        self._put_scope(run_id, scope)
        return self._take(run_id, scope, now, ttl, set(evict), None)

    def renew(self, run_id: str, now: datetime, ttl: timedelta) -> str | None:
        """Hold the lease `ttl` longer, on the scope it was taken for; the holder in the way if another
        sweep took an overlapping lease meanwhile (ours ran out, or was evicted), else None.

        Every enabling call renews, many at once: a lease still held for more than half of `ttl`
        is left as it is, so they read the guard row and do not contend for it.
        """
        return self._take(run_id, None, now, ttl, set(), now + ttl / 2)

    def _take(
        self,
        run_id: str,
        scope: Collection[str] | None,
        now: datetime,
        ttl: timedelta,
        gone: set[str],
        held_long_enough: datetime | None,
    ) -> str | None:
        """`scope` None: the one the lease was taken for, read only when the guard row is to change (a
        thousand subscription ids are the largest row we read; most renewals need only the guard)."""
        for _ in range(ATTEMPTS):
            holders, etag = self._guard()
            if held_long_enough is not None and any(
                h.run_id == run_id and (parse_timestamp(h.until) or now) >= held_long_enough for h in holders
            ):
                return None
            if scope is None:
                scope = self._scope_of(run_id)
            live = [
                h
                for h in holders
                if h.run_id not in gone and h.run_id != run_id and (parse_timestamp(h.until) or now) > now
            ]
            for holder in live:
                if overlaps(scope, () if holder.everything else self._scope_of(holder.run_id)):
                    return holder.run_id
            mine = Holder(run_id, iso(now + ttl), not scope)
            if self._swap([*live, mine], etag):
                log.info("run %s holds the enabling lease until %s", run_id, mine.until)
                return None
        raise LeaseContended(f"the enabling lease stayed contended over {ATTEMPTS} attempts")

    def release(self, run_id: str) -> None:
        """Give the lease back (nothing happens if it is not held)."""
        for _ in range(ATTEMPTS):
            holders, etag = self._guard()
            if all(h.run_id != run_id for h in holders):
                break
            if self._swap([h for h in holders if h.run_id != run_id], etag):
                log.info("run %s released the enabling lease", run_id)
                break
        else:
            raise LeaseContended(f"could not release the enabling lease of {run_id}")
        with contextlib.suppress(ResourceNotFoundError):
            self._table.delete_entity(PARTITION, f"scope|{run_id}")

    def holds(self, run_id: str, now: datetime) -> bool:
        holders, _ = self._guard()
        return any(h.run_id == run_id and (parse_timestamp(h.until) or now) > now for h in holders)

    # ------------------------------------------------------------------------------------------
    def _guard(self) -> tuple[list[Holder], str]:
        while True:
            try:
                entity = self._table.get_entity(PARTITION, GUARD)
                break
            except ResourceNotFoundError:
                try:
                    self._table.create_entity({"PartitionKey": PARTITION, "RowKey": GUARD, "holders": "[]"})
                except ResourceExistsError:
                    pass  # another starter made it: read theirs
        holders = [Holder(**item) for item in json.loads(entity.get("holders") or "[]")]
        return holders, str(entity.metadata["etag"])

    def _swap(self, holders: list[Holder], etag: str) -> bool:
        entity = {"PartitionKey": PARTITION, "RowKey": GUARD, "holders": json.dumps([h.__dict__ for h in holders])}
        try:
            self._table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
            return True
        except ResourceModifiedError:
            return False

    def _put_scope(self, run_id: str, scope: Collection[str]) -> None:
        ids = sorted({s.lower() for s in scope})
        entity: dict[str, Any] = {"PartitionKey": PARTITION, "RowKey": f"scope|{run_id}", "count": len(ids)}
        for index in range(0, len(ids), IDS_PER_PROPERTY):
            entity[f"ids{index // IDS_PER_PROPERTY}"] = ",".join(ids[index : index + IDS_PER_PROPERTY])
        self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def _scope_of(self, run_id: str) -> list[str]:
        try:
            entity = self._table.get_entity(PARTITION, f"scope|{run_id}")
        except ResourceNotFoundError:
            return []  # unknown scope: treated as every subscription, the safe reading
        return [s for key, value in entity.items() if key.startswith("ids") for s in str(value).split(",") if s]
