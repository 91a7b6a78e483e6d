"""Which connection holds a site in a live conference (docs/protocol.md §5).

A site has one connection. A second one for the same (conference, site) does not silently take
it over: ``site_claim(takeover=False)`` refuses while another connection holds the site, and
the page asks the user first ("Tiếp quản?"); with ``takeover=True`` the new connection takes the
site and the consumer replaces the old one (4409). Kept in the cache (Redis when ``REDIS_URL`` is
set, so every server process sees it), with a TTL the holder refreshes while it is alive, so a
process that died without saying so frees its sites within ``HOLD_TTL`` seconds.
"""

from __future__ import annotations

from django.core.cache import cache

HOLD_TTL = 90  # seconds; pages ping every 20 s and every frame refreshes the hold
REFRESH_EVERY = 20.0


def _key(conference: str, site: str) -> str:
    return f"giaoban:live:holder:{conference}:{site}"


def site_claim(*, conference: str, site: str, channel: str, takeover: bool) -> bool:
    """Hold ``site`` for ``channel``; False when another connection holds it and ``takeover``
    is not asked."""
    key = _key(conference, site)
    if cache.add(key, channel, HOLD_TTL):
        return True
    holder = cache.get(key)
    if holder not in (None, channel) and not takeover:
        return False
    cache.set(key, channel, HOLD_TTL)
    return True


def site_refresh(*, conference: str, site: str, channel: str) -> None:
    key = _key(conference, site)
    if cache.get(key) in (None, channel):
        cache.set(key, channel, HOLD_TTL)


def site_release(*, conference: str, site: str, channel: str) -> None:
    """Free the site if ``channel`` still holds it (a replaced connection frees nothing)."""
    key = _key(conference, site)
    if cache.get(key) == channel:
        cache.delete(key)
