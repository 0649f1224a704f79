"""When a run may write: the request, DRY_RUN, and the public-cloud-only rule."""

from __future__ import annotations

import pytest

from arc_sweeper.endpoints import is_public_cloud
from arc_sweeper.messages import SweepRequest
from arc_sweeper.settings import Settings
from arc_sweeper.steps.scope import dry_run_reason

SOVEREIGN = "https://management.usgovcloudapi.net"


def reason(env: dict, dry_run: bool | None) -> str:
    return dry_run_reason(Settings.from_env(env), SweepRequest("http-x", "http", dry_run=dry_run))


@pytest.mark.parametrize(
    "env, requested, expected",
    [
        ({}, None, ""),
        ({"DRY_RUN": "true"}, None, "DRY_RUN setting"),
        ({"DRY_RUN": "true"}, False, "DRY_RUN setting"),  # the kill switch wins over a request for writes
        ({}, False, ""),
        ({}, True, "dryRun requested"),
        ({"ARM_ENDPOINT": SOVEREIGN}, None, "PUBLIC_CLOUD_ONLY"),
        ({"ARM_ENDPOINT": SOVEREIGN}, False, "PUBLIC_CLOUD_ONLY"),
        ({"ARM_ENDPOINT": SOVEREIGN, "PUBLIC_CLOUD_ONLY": "false"}, None, ""),
        ({"ARM_ENDPOINT": "http://127.0.0.1:8080"}, None, ""),
    ],
)
def test_dry_run_reason(env, requested, expected):
    got = reason(env, requested)
    assert got.startswith(expected) and bool(got) == bool(expected)


def test_public_cloud_detection():
    assert is_public_cloud("https://management.azure.com/") and is_public_cloud("http://localhost:1")
    assert not is_public_cloud(SOVEREIGN) and not is_public_cloud("https://management.chinacloudapi.cn")
