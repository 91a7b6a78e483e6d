"""Transient live facts that are not part of the live state: which site each media slot shows,
and the link each site's page reports. Neither is audited or versioned; both go to the
conference's group as transient events (docs/protocol.md §4), and the last slot layout is kept
in the cache so a page that connects later is told it at once.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from conferences import events
from conferences.live import chat

SLOTS_TTL = 6 * 3600
LINK_STATES = frozenset(
    {
        "idle",
        "connecting",
        "negotiated",
        "connected",
        "disconnected",
        "waiting",
        "stuck",
        "retrying",
        "failed",
    }
)
LINK_QUALITIES = frozenset({"unknown", "good", "fair", "poor"})
RECEIVED_QUALITIES = frozenset({"full", "reduced", "audio"})


def _slots_key(code: str) -> str:
    return f"giaoban:live:slots:{code}"


def slots_reported(code: str, slots: Any) -> None:
    """The media room re-pointed its slots: tell every page which site each slot now shows."""
    if not isinstance(slots, dict):
        return
    clean = {
        str(name)[:32]: (str(pid)[:64] if isinstance(pid, str) else None)
        for name, pid in list(slots.items())[:64]
    }
    cache.set(_slots_key(str(code)), clean, SLOTS_TTL)
    events.transient(str(code), {"type": "slots", "slots": clean})


def last_slots(code: str) -> dict[str, str | None] | None:
    """The slot layout last reported for the conference's room, if any."""
    value = cache.get(_slots_key(str(code)))
    return value if isinstance(value, dict) else None


def layers_reported(*, code: str, site: Any, layers: Any) -> bool:
    """The media room says which of a site's simulcast layers anyone receives: tell that site's
    page, which pauses the others (``publish_layers``, docs/protocol.md)."""
    if not isinstance(site, str) or not isinstance(layers, dict) or not 0 < len(layers) <= 3:
        return False
    clean = {str(rid)[:16]: bool(on) for rid, on in layers.items()}
    group = chat.site_group(str(code), site)
    events.to_group(group, {"type": "publish_layers", "layers": clean})
    return True


def quality_reported(*, code: str, site: str, quality: Any, estimate: Any) -> bool:
    """The media room changed what a site receives (its bandwidth allocation): ``full``,
    ``reduced`` (some video on a smaller layer or paused) or ``audio`` (no video at all).
    Told to everyone: the site's own page shows it on its quality line, the console on the
    site's tile. False (and nothing sent) for anything else."""
    if not isinstance(site, str) or quality not in RECEIVED_QUALITIES:
        return False
    kbps = None
    if isinstance(estimate, int) and not isinstance(estimate, bool) and estimate >= 0:
        kbps = min(estimate, 10**9) // 1000
    events.transient(
        str(code),
        {"type": "quality", "site": site[:64], "quality": quality, "estimate_kbps": kbps},
    )
    return True


def link_reported(*, code: str, site: str, state: Any, quality: Any) -> bool:
    """A site's page reports its media link (state and quality); False if the report is invalid."""
    if not isinstance(state, str) or not isinstance(quality, str):
        return False
    if state not in LINK_STATES or quality not in LINK_QUALITIES:
        return False
    events.transient(str(code), {"type": "link", "site": site, "state": state, "quality": quality})
    return True
