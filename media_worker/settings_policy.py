"""The SFU's :class:`NetworkPolicy` built from Django settings (``MEDIA_ICE_*``, ``MEDIA_*_SERVERS``).

The SFU itself never reads settings; the room host asks here once per room.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from media_worker.sfu import IceServer, NetworkPolicy


def _turn(spec: str) -> IceServer:
    parts = spec.split("|")
    if len(parts) not in (1, 3) or not parts[0].startswith(("turn:", "turns:")):
        raise ImproperlyConfigured(
            f"MEDIA_TURN_SERVERS entries look like 'turn:host:3478|user|password', got {spec!r}"
        )
    if len(parts) == 1:
        return IceServer(urls=(parts[0],))
    return IceServer(urls=(parts[0],), username=parts[1], credential=parts[2])


def network_policy() -> NetworkPolicy:
    addresses = tuple(settings.MEDIA_ICE_ADDRESSES) or None
    servers = tuple(IceServer(urls=(url,)) for url in settings.MEDIA_STUN_SERVERS)
    servers += tuple(_turn(spec) for spec in settings.MEDIA_TURN_SERVERS)
    try:
        return NetworkPolicy(
            local_addresses=addresses,
            ice_servers=servers,
            accepted_networks=tuple(settings.MEDIA_ICE_ACCEPT_NETWORKS),
        )
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"MEDIA_ICE_ADDRESSES / MEDIA_ICE_ACCEPT_NETWORKS: {exc}"
        ) from exc
