"""Which connection holds a site in a live conference (docs/protocol.md §5).

A site has one connection. A second one for the same (conference, site) does not silently take
it over: ``site_claim(takeover=False)`` refuses while another connection holds the site, and
the page asks the user first ("Tiếp quản?"); with ``takeover=True`` the new connection takes the
site and the consumer replaces the old one (4409). Kept in the cache (Redis when ``REDIS_URL`` is
set, so every server process sees it), with a TTL the holder refreshes while it is alive, so a
process that died without saying so frees its sites within ``HOLD_TTL`` seconds.

Each page sends a random ``page`` token of its own with every connection. A page that held the
site and reconnects after a network cut (its old connection may not be gone on the server yet)
takes it back without asking, because the hold names its token; once another page has taken the
site over, the hold names that page, and the reconnecting one is asked like any other
("Tiếp quản?") instead of silently taking the site back.
"""

from __future__ import annotations

from django.core.cache import cache

HOLD_TTL = 90  # seconds; pages ping every 20 s and every frame refreshes the hold
REFRESH_EVERY = 20.0


def _key(conference: str, site: str) -> str:
    return f"giaoban:live:holder:{conference}:{site}"


def _holder(value: object) -> tuple[str, str]:
    """(channel, page) of a stored hold; ``page`` is "" for a client that sent none."""
    if isinstance(value, dict):
        return str(value.get("channel", "")), str(value.get("page", ""))
    return "", ""


def site_claim(*, conference: str, site: str, channel: str, takeover: bool, page: str = "") -> bool:
    """Hold ``site`` for ``channel`` of ``page``; False when another connection holds it,
    ``takeover`` is not asked and the holder is not an earlier connection of the same page."""
    key = _key(conference, site)
    hold = {"channel": channel, "page": page}
    if cache.add(key, hold, HOLD_TTL):
        return True
    stored = cache.get(key)
    held_by, held_page = _holder(stored)
    same_page = bool(page) and held_page == page
    if stored is not None and held_by != channel and not same_page and not takeover:
        return False
    cache.set(key, hold, HOLD_TTL)
    return True


def site_refresh(*, conference: str, site: str, channel: str, page: str = "") -> None:
    key = _key(conference, site)
    stored = cache.get(key)
    if stored is None or _holder(stored)[0] == channel:
        cache.set(key, {"channel": channel, "page": page}, HOLD_TTL)


def site_release(*, conference: str, site: str, channel: str) -> None:
    """Free the site if ``channel`` still holds it (a replaced connection frees nothing)."""
    key = _key(conference, site)
    if _holder(cache.get(key))[0] == channel:
        cache.delete(key)
