"""Where the product talks to Azure, and the guard that keeps tokens off plain HTTP."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_url(url: str) -> bool:
    """True for http(s) URLs whose host is 127.0.0.0/8, ::1 or localhost."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


PUBLIC_CLOUD_ARM = "https://management.azure.com"


def is_public_cloud(arm_endpoint: str) -> bool:
    """Azure's public cloud, or a loopback stand-in for it (the fleet simulator)."""
    return arm_endpoint.rstrip("/").lower() == PUBLIC_CLOUD_ARM or is_loopback_url(arm_endpoint)


def require_safe_endpoint(url: str, what: str) -> None:
    """Refuse to send credentials anywhere but https, or plain http on loopback."""
    scheme = urlsplit(url).scheme
    if scheme == "https" or (scheme == "http" and is_loopback_url(url)):
        return
    raise ValueError(f"{what} must be https (plain http is allowed only on loopback), got {scheme or 'no'} scheme")
