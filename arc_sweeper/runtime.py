"""Builds the sweep's steps from the app settings, once per process and configuration.

Activities, the HTTP starters and the operator CLI all get their steps here, wired to the
real outside systems: Resource Graph, ARM, Table Storage and the Logic App webhook.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from arc_sweeper.arm import Arm
from arc_sweeper.catalogue_feed import fetch_catalogue
from arc_sweeper.credentials import credential_for
from arc_sweeper.fleet import FleetLedger
from arc_sweeper.http_pipeline import HttpLimits
from arc_sweeper.logic_app import LogicAppWebhook
from arc_sweeper.resource_graph import ResourceGraph
from arc_sweeper.setting_values import KNOWN_API_VERSIONS
from arc_sweeper.settings import Settings
from arc_sweeper.steps.closing import ClosingStep
from arc_sweeper.steps.discovery import DiscoveryStep
from arc_sweeper.steps.enabling import EnablingStep
from arc_sweeper.steps.follow_up import FollowUpStep
from arc_sweeper.steps.rings import RingsStep
from arc_sweeper.steps.scope import ScopeStep
from arc_sweeper.tables import SweepStore, table_service_from_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Steps:
    settings: Settings
    store: SweepStore
    scope: ScopeStep
    rings: RingsStep
    discovery: DiscoveryStep
    enabling: EnablingStep
    follow_up: FollowUpStep
    closing: ClosingStep


def steps(env: Mapping[str, str] | None = None) -> Steps:
    """The steps for the current app settings (rebuilt only when they change)."""
    env = os.environ if env is None else env
    return _steps_for(tuple(sorted(env.items())))


@lru_cache(maxsize=4)
def _steps_for(env_items: tuple[tuple[str, str], ...]) -> Steps:
    env = dict(env_items)
    settings = Settings.from_env(env)
    if settings.hybridcompute_api_version not in KNOWN_API_VERSIONS:
        log.warning(
            "HYBRIDCOMPUTE_API_VERSION=%s is not a known GA api-version (%s); used because "
            "ALLOW_UNLISTED_API_VERSION=true",
            settings.hybridcompute_api_version,
            ", ".join(KNOWN_API_VERSIONS),
        )
    credential = credential_for(settings.arm_endpoint)
    store = SweepStore(table_service_from_settings(settings.storage_connection, env), settings.table_prefix)
    limits = HttpLimits(max_retry_after_s=settings.max_retry_wait.total_seconds())  # MAX_RETRY_WAIT bounds every wait
    graph = ResourceGraph(
        settings.arm_endpoint, credential, subscriptions_per_query=settings.resource_graph_batch_size, limits=limits
    )
    arm = Arm(
        settings.arm_endpoint, credential, hybridcompute_api_version=settings.hybridcompute_api_version, limits=limits
    )
    fleet = FleetLedger(store)
    hostname = env.get("WEBSITE_HOSTNAME", "")
    scheme = "http" if hostname.startswith(("localhost", "127.")) else "https"
    return Steps(
        settings=settings,
        store=store,
        scope=ScopeStep(settings, store, arm, store.leases, fetch_catalogue),
        rings=RingsStep(settings, store),
        discovery=DiscoveryStep(settings, store, graph, fleet),
        enabling=EnablingStep(settings, store, arm, fleet, store.leases),
        follow_up=FollowUpStep(settings, store, graph, fleet),
        closing=ClosingStep(
            store,
            LogicAppWebhook(settings.webhook_url),
            store.leases,
            fleet,
            app_url=f"{scheme}://{hostname}" if hostname else "",
        ),
    )
