"""Builds the Sweeper from the environment, once per process and configuration."""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Mapping

from arc_sweeper.arm import Arm
from arc_sweeper.credentials import credential_for
from arc_sweeper.resource_graph import ResourceGraph
from arc_sweeper.settings import Settings
from arc_sweeper.sweep import Sweeper
from arc_sweeper.tables import SweepStore, table_service_from_settings


def sweeper(env: Mapping[str, str] | None = None) -> Sweeper:
    """The Sweeper for the current app settings (rebuilt only when they change)."""
    env = os.environ if env is None else env
    return _sweeper_for(tuple(sorted(env.items())))


@lru_cache(maxsize=4)
def _sweeper_for(env_items: tuple[tuple[str, str], ...]) -> Sweeper:
    env = dict(env_items)
    settings = Settings.from_env(env)
    credential = credential_for(settings.arm_endpoint)
    hostname = env.get("WEBSITE_HOSTNAME", "")
    scheme = "http" if hostname.startswith(("localhost", "127.")) else "https"
    return Sweeper(
        settings=settings,
        store=SweepStore(table_service_from_settings(settings.storage_connection, env), settings.table_prefix),
        graph=ResourceGraph(settings.arm_endpoint, credential,
                            subscriptions_per_query=settings.resource_graph_batch_size),
        arm=Arm(settings.arm_endpoint, credential, hybridcompute_api_version=settings.hybridcompute_api_version),
        status_base_url=f"{scheme}://{hostname}" if hostname else "",
    )
