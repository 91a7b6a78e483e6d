"""Who is trying to sign in, and what a run of failed sign-ins locks (django-axes hooks).

- ``client_ip``: the address of the browser. ``REMOTE_ADDR`` unless the request comes from one of
  ``TRUSTED_PROXIES``; then the right-most address of ``PROXY_CLIENT_IP_HEADER`` (default
  ``X-Forwarded-For``) that is not itself a trusted proxy. A header from anyone else is ignored,
  so a client cannot choose its own address.
- ``lockout_parameters``: failures lock the (username, address) pair after ``AXES_FAILURE_LIMIT``;
  the address as a whole only after ``LOGIN_ADDRESS_FAILURE_LIMIT`` failures across all usernames
  within the cool-off time. Behind a proxy that is not configured every user shares one address:
  five typos must not lock the whole province, a password-spraying run still stops.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from portal.env import Network


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_ip(request: Any) -> str | None:
    remote = request.META.get("REMOTE_ADDR")
    proxies: list[Network] = settings.TRUSTED_PROXY_NETWORKS
    if not proxies or not remote or not _trusted(remote, proxies):
        return remote
    meta_key = "HTTP_" + settings.PROXY_CLIENT_IP_HEADER.upper().replace("-", "_")
    hops = [hop.strip() for hop in request.META.get(meta_key, "").split(",") if hop.strip()]
    for hop in reversed(hops):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            return remote  # a garbled header: count the proxy's own address rather than guess
        if not _trusted(address, proxies):
            return address
    return remote


def _address_failures(address: str) -> int:
    from axes.models import AccessAttempt

    since = timezone.now() - settings.AXES_COOLOFF_TIME
    total = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since).aggregate(
        n=Sum("failures_since_start")
    )["n"]
    return total or 0


def lockout_parameters(request_or_attempt: Any, credentials: dict | None = None) -> list[Any]:
    address = getattr(request_or_attempt, "axes_ip_address", None) or getattr(
        request_or_attempt, "ip_address", None
    )
    parameters: list[Any] = [["username", "ip_address"]]
    if address and _address_failures(address) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
        parameters.append("ip_address")
    return parameters
