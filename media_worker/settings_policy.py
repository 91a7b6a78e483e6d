"""The SFU's :class:`NetworkPolicy` built from Django settings (``MEDIA_ICE_*``, ``MEDIA_*_SERVERS``,
``MEDIA_UDP_PORT``, ``MEDIA_TCP_PORT``).

The SFU itself never reads settings; the room host asks here once per room.

With ``MEDIA_ICE_ADDRESSES`` empty (the default) the SFU offers every non-loopback address of
the host; a host that has none (a laptop off the network, a loopback-only namespace) offers
127.0.0.1 instead, so the default settings still give a working conference there rather than
an answer with no candidate.
"""

from __future__ import annotations

import logging

import aioice.ice
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from media_worker.sfu import IceServer, NetworkPolicy

logger = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1",)
# Bound at import, like the SFU's default policy: a test that patches aioice's discovery for
# its own client peers must not change what the server offers.
_discover_host_addresses = aioice.ice.get_host_addresses


def _turn(spec: str) -> IceServer:
    parts = spec.split("|")
    if len(parts) not in (1, 3) or not parts[0].startswith(("turn:", "turns:")):
        raise ImproperlyConfigured(
            f"MEDIA_TURN_SERVERS entries look like 'turn:host:3478|user|password', got {spec!r}"
        )
    if len(parts) == 1:
        return IceServer(urls=(parts[0],))
    return IceServer(urls=(parts[0],), username=parts[1], credential=parts[2])


def _offered_addresses() -> tuple[str, ...] | None:
    """The configured addresses; else None (every address, found again at each gathering)
    while the host has a non-loopback address; else loopback."""
    configured = tuple(settings.MEDIA_ICE_ADDRESSES)
    if configured:
        return configured
    if _discover_host_addresses(use_ipv4=True, use_ipv6=False):
        return None
    logger.info("no non-loopback address on this host: media is offered on 127.0.0.1")
    return LOOPBACK


def network_policy() -> NetworkPolicy:
    addresses = _offered_addresses()
    servers = tuple(IceServer(urls=(url,)) for url in settings.MEDIA_STUN_SERVERS)
    servers += tuple(_turn(spec) for spec in settings.MEDIA_TURN_SERVERS)
    try:
        return NetworkPolicy(
            local_addresses=addresses,
            ice_servers=servers,
            accepted_networks=tuple(settings.MEDIA_ICE_ACCEPT_NETWORKS),
            udp_ports=settings.MEDIA_UDP_PORTS,
            tcp_ports=settings.MEDIA_TCP_PORTS,
        )
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"MEDIA_ICE_ADDRESSES / MEDIA_ICE_ACCEPT_NETWORKS: {exc}"
        ) from exc
