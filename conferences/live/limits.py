"""Per-command limits for the live socket's state-changing commands (issue 11 item 6).

Contract: ``command_wait(conference=, site=, kind=, target=)`` returns 0 when the command may run
now (and counts it), or the seconds until it may — the consumer then answers ``rate_limited``
with ``retry_after`` and runs nothing, so a refused command writes no audit entry and sends no
event. Limits are token buckets keyed by (conference, site, group) in this process, so a page
that reconnects does not get a fresh allowance; the table is bounded (least recently used keys
are forgotten first).

Why here and not only the socket's 50 messages/s: every applied command writes an audit row and
sends an event to every participant, so a stuck key or a script toggling a hand 50 times a
second cost 1,766 audit rows and 1,766 frames to everyone in 46 s. People do not act faster than
these limits; the events that do come in bursts (many sites raising hands at once) are
coalesced per socket by the consumer instead (``COALESCED``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock


@dataclass(frozen=True)
class Limit:
    burst: int  # commands allowed at once
    every: float  # seconds to earn one more


# command type → limit group (commands not listed are not limited beyond the socket's rate)
GROUPS: dict[str, str] = {
    "hand.raise": "hand",
    "hand.lower": "hand",
    "absent.call": "absent.call",
    "link": "link",
    "host_camera.set": "chair",
    "start": "chair",
    "end": "chair",
    "floor.give": "chair",
    "recording.pause": "chair",
    "recording.resume": "chair",
    "floor.clear": "chair",
    "broadcast.set": "chair",
    "mute.set": "chair",
    "mute.all": "chair",
    "agenda.goto": "chair",
    "rollcall.start": "chair",
    "rollcall.end": "chair",
    "rollcall.answer": "rollcall.answer",
    "presenter.grant": "chair",
    "presenter.revoke": "chair",
    "presenter.floor": "chair",
    "content.start": "content",
    "content.stop": "content",
    "content.page": "content.page",
    "chat.send": "chat",
    "chat.set": "chair",
}

LIMITS: dict[str, Limit] = {
    "hand": Limit(burst=1, every=2.0),  # a site's own hand: raise or lower at most every 2 s
    "absent.call": Limit(burst=1, every=10.0),  # mails every absent site's operators
    "link": Limit(burst=2, every=5.0),  # a page reports its link every ~20 s
    # the chair clicks quickly (mute three sites, next item) but not 50 times a second
    "chair": Limit(burst=10, every=0.5),
    "rollcall.answer": Limit(burst=3, every=1.0),  # also for the chair answering for sites
    "content": Limit(burst=3, every=2.0),  # start/stop sharing: a few clicks, not a loop
    # a presenter flicks through a few pages quickly, then reads: 5 at once, then 3 a second
    "content.page": Limit(burst=5, every=0.33),
    # a person types a few lines in a row, then one every few seconds; a script or a stuck key
    # must not fill every page (and the minutes) with hundreds of messages
    "chat": Limit(burst=5, every=2.0),
}

MAX_KEYS = 20_000

_lock = Lock()
_buckets: OrderedDict[tuple[str, str, str], tuple[float, float]] = OrderedDict()


def command_wait(
    *, conference: str, site: str, kind: str, target: str | None = None, now: float | None = None
) -> float:
    """Seconds until ``kind`` may run for ``site`` (0: it may, and it is counted now).

    ``target``: the site a command is about when it is not the sender's own (the chair lowering
    another site's hand) — that is the chair's click, counted in the chair's group."""
    group = GROUPS.get(kind)
    if group is None:
        return 0.0
    if group == "hand" and target not in (None, site):
        group = "chair"
    limit = LIMITS.get(group)
    if limit is None or limit.every <= 0:
        return 0.0
    now = time.monotonic() if now is None else now
    key = (conference, site, group)
    with _lock:
        tokens, at = _buckets.pop(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - at) / limit.every)
        if tokens >= 1.0:
            _buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            _buckets[key] = (tokens, now)
            wait = (1.0 - tokens) * limit.every
        while len(_buckets) > MAX_KEYS:
            _buckets.popitem(last=False)
    return wait


def reset() -> None:
    """Forget every bucket (tests)."""
    with _lock:
        _buckets.clear()
