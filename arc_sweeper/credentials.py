"""Which Azure credential the product uses for a given ARM endpoint.

Real endpoints get azure-identity's DefaultAzureCredential (managed identity in Azure,
az login or environment on a workstation). A loopback endpoint is the fleet simulator:
it gets a fixed development token, and that token is never offered to anything else.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential

from arc_sweeper.endpoints import is_loopback_url

DEVELOPMENT_TOKEN = "local-development-token"


class DevelopmentCredential:
    """A static token for the local simulator; refuses scopes of non-loopback endpoints."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        for scope in scopes:
            if not is_loopback_url(scope):
                raise PermissionError("the development token is only for loopback endpoints")
        return AccessToken(DEVELOPMENT_TOKEN, int(time.time()) + 3600)


def credential_for(arm_endpoint: str) -> TokenCredential:
    if is_loopback_url(arm_endpoint):
        return DevelopmentCredential()
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def token_scope(arm_endpoint: str) -> str:
    return arm_endpoint.rstrip("/") + "/.default"
