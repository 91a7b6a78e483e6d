"""Ways into the live room: which buttons a user gets for a conference, and where they lead.

Contract: ``live_entries(user=, conference=, now=None)`` returns the entries (console, a site's
room, the host room, watching) the user may use for ``conference`` right now, in the order the
pages show them. The home page's card, "Điểm cầu của tôi", the operator's conference page, the
conference detail page and the invitation e-mail all ask here, so a button appears on every
page or on none. The live pages and the socket check again when the user arrives: an entry is a
signpost, never a permission.

The room is open while the conference is live, and from ``ROOM_OPENS_BEFORE`` before its planned
start (operators run the pre-join check of camera, microphone and line and wait there; the page
connects media by itself when the chair starts) until its planned end.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from conferences import permissions
from conferences.models import Conference, Status
from portal import permissions as org

ROOM_OPENS_BEFORE = dt.timedelta(minutes=60)

CONSOLE = "console"  # the chair console (chairs and the managing clerks)
JOIN = "join"  # a site's room page (that site's operators)
HOST = "host"  # the host room's page for the chair site's technician (run from the console)
WATCH = "watch"  # watch-only (leaders, managing clerks, listed observers), while live


@dataclass(frozen=True)
class LiveEntry:
    kind: str
    url: str
    site_name: str = ""
    site_code: str = ""


def room_opens_at(conference: Conference) -> dt.datetime:
    return conference.planned_start - ROOM_OPENS_BEFORE


def room_open(conference: Conference, now: dt.datetime | None = None) -> bool:
    """Live, or scheduled and between ``ROOM_OPENS_BEFORE`` before the start and the planned end."""
    if conference.status == Status.LIVE:
        return True
    if conference.status != Status.SCHEDULED:
        return False
    now = now or timezone.now()
    return room_opens_at(conference) <= now <= conference.planned_end


def join_url(conference: Conference, site_code: str | None = None) -> str:
    url = reverse("conference_join", args=[conference.code])
    return f"{url}?{urlencode({'site': site_code})}" if site_code else url


def watch_url(conference: Conference) -> str:
    return reverse("conference_watch", args=[conference.code])


def console_url(conference: Conference) -> str:
    return reverse("conference_console", args=[conference.code])


def site_entries(user, conference: Conference) -> list[LiveEntry]:
    """The invited sites ``user`` runs the room of, in organisation order (no time check):
    a ``join`` entry per site, and a ``host`` entry for the chair site."""
    rows = (
        permissions.operated_invitations(user, conference)
        .select_related("site", "unit")
        .order_by("unit__path", "site__key")
    )
    out = []
    for inv in rows:
        kind = HOST if inv.site_id == conference.chair_site_id else JOIN
        code = str(inv.site.code)
        out.append(LiveEntry(kind, join_url(conference, code), inv.site.name, code))
    chair_site = conference.chair_site
    if (
        chair_site is not None
        and not any(e.kind == HOST for e in out)
        and org.operates_site(user, chair_site)
    ):
        # the chair site is invited by scheduling; older data may not have it
        code = str(chair_site.code)
        out.append(LiveEntry(HOST, join_url(conference, code), chair_site.name, code))
    return out


def live_entries(
    *, user, conference: Conference, now: dt.datetime | None = None
) -> list[LiveEntry]:
    """What ``user`` may open for ``conference`` now: [] when the room is not open."""
    if not getattr(user, "is_authenticated", False) or not room_open(conference, now):
        return []
    out: list[LiveEntry] = []
    chair = permissions.can_chair(user, conference)
    if chair:
        out.append(LiveEntry(CONSOLE, console_url(conference)))
    for entry in site_entries(user, conference):
        if entry.kind == HOST and chair:
            continue  # the console already runs the host room
        out.append(entry)
    if not chair and conference.status == Status.LIVE and permissions.can_watch(user, conference):
        out.append(LiveEntry(WATCH, watch_url(conference)))
    return out
