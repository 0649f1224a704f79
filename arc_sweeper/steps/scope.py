"""Step 1: record the run and fix its scope of subscriptions."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from arc_sweeper.durations import format_duration, parse_duration
from arc_sweeper.endpoints import is_public_cloud
from arc_sweeper.messages import RunPlan, StartRun, SweepRequest
from arc_sweeper.ports import ArmError, ScopeLeases, ScopeStore, SubscriptionDirectory
from arc_sweeper.records import RunRecord, SubscriptionRecord
from arc_sweeper.releases import Fetch, as_row, resolve_catalogue
from arc_sweeper.settings import Settings
from arc_sweeper.text import clip
from arc_sweeper.timefmt import parse_timestamp
from arc_sweeper.versions import format_release
from arc_sweeper.vocabulary import RunPhase, RunStatus

log = logging.getLogger(__name__)

UNSWEEPABLE_STATES = frozenset({"disabled", "expired", "deleted"})
"""Subscription states that refuse writes (reference §13a): Disabled and Expired are read-only, Deleted is gone.
Enabled, Warned and PastDue are active; their machines run agents that need upgrading."""
KNOWN_STATES = UNSWEEPABLE_STATES | {"enabled", "warned", "pastdue"}


@dataclass(frozen=True)
class ScopeStep:
    settings: Settings
    store: ScopeStore
    directory: SubscriptionDirectory
    leases: ScopeLeases
    fetch_catalogue: Fetch

    def start_run(self, start: StartRun) -> RunPlan:
        """Record the run and fix its scope; a retried call returns the plan already made."""
        request = start.request
        existing = self.store.get_run(request.run_id)
        if existing is not None and existing.phase != RunPhase.STARTING:
            return self._plan(existing)
        run = self.record_request(request, start.as_of)
        holder = None if run.dry_run else self._lease_holder(request, start.as_of)
        if holder is not None:
            reason = f"sweep {holder} is still enabling an overlapping scope: this run reports only"
            log.warning("run %s: %s", request.run_id, reason)
            run = replace(run, dry_run=True, dry_run_reason=reason, blocked_by=holder)
        subscriptions = self._resolve_scope(request.run_id, request.subscriptions)
        self.store.put_subscriptions(subscriptions)
        in_scope = [s for s in subscriptions if s.in_scope]
        resolved = resolve_catalogue(self.settings.releases, self.store.observed_releases(), self.fetch_catalogue)
        run = replace(
            run,
            phase=RunPhase.SWEEPING,
            catalogue=as_row(resolved.catalogue),
            catalogue_origin=resolved.catalogue.origin,
            catalogue_base_newest=format_release(resolved.base.newest()),
            notices=tuple(n for n in (run.dry_run_reason if run.blocked_by else "", resolved.notice) if n),
            subscriptions_in_scope=len(in_scope),
            subscriptions_skipped=len(subscriptions) - len(in_scope),
            batch_count=max((s.batch_index for s in in_scope), default=-1) + 1,
        )
        self.store.put_run(run)
        log.info(
            "run %s: %d subscriptions in scope, %d skipped, dry run %s",
            run.run_id,
            run.subscriptions_in_scope,
            run.subscriptions_skipped,
            run.dry_run,
        )
        return self._plan(run)

    def _plan(self, run: RunRecord) -> RunPlan:
        return replace(plan_of(run), staged=self.settings.ring_policy is not None)

    def record_request(self, request: SweepRequest, as_of: str) -> RunRecord:
        """The run's row as soon as it is accepted, with the effective options.

        The HTTP starter writes it before the orchestration starts, so that a second,
        overlapping request made meanwhile already sees this run as running.
        """
        window = (
            parse_duration(request.follow_up_window) if request.follow_up_window else self.settings.follow_up_window
        )
        poll = parse_duration(request.poll_interval) if request.poll_interval else self.settings.poll_interval
        self.store.create_tables()
        reason = self.dry_run_reason(request)
        scope = self.requested_scope(request)
        run = RunRecord(
            run_id=request.run_id,
            trigger=request.trigger,
            dry_run=bool(reason),
            dry_run_reason=reason,
            scope_count=len(scope),
            scope_digest=scope_digest(scope),
            status=RunStatus.RUNNING,
            phase=RunPhase.STARTING,
            started_at=as_of,
            updated_at=as_of,
            follow_up_window=format_duration(window),
            poll_interval=format_duration(min(poll, window)),
        )
        self.store.put_run(run)
        return run

    def _lease_holder(self, request: SweepRequest, as_of: str) -> str | None:
        """Hold the enabling lease for the run's scope: the HTTP starter took it already; a run started
        any other way (the timer, the CLI) takes it here. Returns the sweep in the way, if any: the
        run then reports only, and its row, summary and alert say why."""
        now = parse_timestamp(as_of)
        assert now is not None, "as_of comes from the orchestration clock"
        if self.leases.holds(request.run_id, now):
            return None
        return self.leases.acquire(request.run_id, self.requested_scope(request), now, self.settings.enabling_lease)

    def requested_scope(self, request: SweepRequest) -> tuple[str, ...]:
        """The subscriptions asked for: the request's, else SUBSCRIPTION_ALLOW_LIST; empty means all."""
        return tuple(dict.fromkeys(s.lower() for s in request.subscriptions)) or self.settings.subscription_allow_list

    def dry_run_reason(self, request: SweepRequest) -> str:
        return dry_run_reason(self.settings, request)

    def _resolve_scope(self, run_id: str, requested: Iterable[str]) -> list[SubscriptionRecord]:
        """Allow-list (request, else setting) or every visible subscription; minus the deny-list and
        the subscriptions whose state refuses writes."""
        wanted = [s.lower() for s in requested] or list(self.settings.subscription_allow_list)
        denied = set(self.settings.subscription_deny_list)
        records: list[SubscriptionRecord] = []
        if wanted:
            for subscription_id in dict.fromkeys(wanted):
                try:
                    found = self.directory.get_subscription(subscription_id)
                except ArmError as error:
                    records.append(
                        SubscriptionRecord(
                            run_id,
                            subscription_id,
                            in_scope=False,
                            skip_reason=clip(f"cannot read subscription: {error}"),
                        )
                    )
                    continue
                records.append(SubscriptionRecord(run_id, subscription_id, found.display_name, found.state))
        else:
            records = [
                SubscriptionRecord(run_id, s.subscription_id, s.display_name, s.state)
                for s in self.directory.list_subscriptions()
            ]
        resolved = []
        for record in records:
            if record.in_scope and record.subscription_id in denied:
                record = replace(record, in_scope=False, skip_reason="on SUBSCRIPTION_DENY_LIST")
            elif record.in_scope and record.state.lower() in UNSWEEPABLE_STATES:
                record = replace(
                    record, in_scope=False, skip_reason=f"subscription state is {record.state}: it takes no writes"
                )
            elif record.in_scope and record.state.lower() not in KNOWN_STATES:
                log.warning(
                    "run %s: subscription %s has an unknown state %r; swept as active",
                    run_id,
                    record.subscription_id,
                    record.state,
                )
                record = replace(record, note=clip(f"unknown subscription state {record.state!r}: swept as active"))
            resolved.append(record)
        in_scope = sorted(r.subscription_id for r in resolved if r.in_scope)
        size = self.settings.resource_graph_batch_size
        batch_of = {sub: index // size for index, sub in enumerate(in_scope)}
        return [replace(r, batch_index=batch_of[r.subscription_id]) if r.in_scope else r for r in resolved]


def dry_run_reason(settings: Settings, request: SweepRequest) -> str:
    """Why this run must not write, or "" when it may.

    The settings win over any request: a request may ask for a dry run, never for writes
    that DRY_RUN (the documented rollback) or PUBLIC_CLOUD_ONLY forbid.
    """
    if settings.public_cloud_only and not is_public_cloud(settings.arm_endpoint):
        log.warning(
            "run %s: %s is not the Azure public cloud, where automatic agent upgrade is offered: "
            "reporting only (PUBLIC_CLOUD_ONLY)",
            request.run_id,
            settings.arm_endpoint,
        )
        return "PUBLIC_CLOUD_ONLY: automatic agent upgrade is documented for the Azure public cloud only"
    if settings.dry_run:
        return "DRY_RUN setting" + (
            " (the request's dryRun=false cannot turn writes on)" if request.dry_run is False else ""
        )
    return "dryRun requested" if request.dry_run else ""


def scope_digest(scope: Iterable[str]) -> str:
    """A short fingerprint of a scope, to tell two runs' scopes apart at a glance ("" for every subscription)."""
    ids = sorted({s.lower() for s in scope})
    return hashlib.sha256(",".join(ids).encode()).hexdigest()[:16] if ids else ""


def plan_of(run: RunRecord) -> RunPlan:
    return RunPlan(
        run_id=run.run_id,
        dry_run=run.dry_run,
        batch_count=run.batch_count,
        subscriptions_in_scope=run.subscriptions_in_scope,
        follow_up_window_s=int(parse_duration(run.follow_up_window).total_seconds()),
        poll_interval_s=int(parse_duration(run.poll_interval).total_seconds()),
    )
