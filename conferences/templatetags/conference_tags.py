"""Template tags other pages use to show conferences: the home page's "upcoming" card and the
buttons into the live room (``conferences.live_links``) on every page that lists a conference."""

from __future__ import annotations

import datetime as dt

from django import template
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils import timezone

from conferences import live_links, permissions
from conferences.models import Conference, Status

register = template.Library()


@register.inclusion_tag("conferences/_upcoming_card.html", takes_context=True)
def upcoming_conferences(context, limit: int = 6) -> dict[str, object]:
    """The next conferences the signed-in user may see: live ones first (however long they
    run), then scheduled ones by start time, each with the user's ways into the room."""
    user = context["request"].user
    now = timezone.now()
    since = now - dt.timedelta(hours=12)
    conferences = (
        permissions.visible_conferences(user)
        .filter(Q(status=Status.LIVE) | Q(status=Status.SCHEDULED, planned_end__gte=since))
        .select_related("host_unit", "chair_site")
        .annotate(
            live_first=Case(
                When(status=Status.LIVE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("live_first", "planned_start", "pk")[:limit]
    )
    rows = []
    for c in conferences:
        entries = live_links.live_entries(user=user, conference=c, now=now)
        rows.append({"conference": c, "entries": entries, "several": _several(entries)})
    return {"rows": rows, "user": user}


def _several(entries: list[live_links.LiveEntry]) -> bool:
    """Several site rooms for one user: each button then names its site."""
    return len([e for e in entries if e.kind != live_links.CONSOLE]) > 1


@register.inclusion_tag("conferences/live/_entries.html", takes_context=True)
def live_entry_buttons(
    context, conference: Conference, site=None, compact: bool = False, boxed: bool = False
) -> dict[str, object]:
    """The "Vào phòng họp" / "Bàn điều khiển" buttons of ``conference`` for the signed-in user
    (only ``site``'s when given), or when the room opens if it is not open yet."""
    user = context["request"].user
    entries = live_links.live_entries(user=user, conference=conference)
    if site is not None:
        is_chair_site = site.pk == conference.chair_site_id
        entries = [
            e
            for e in entries
            if e.site_code == str(site.code) or (is_chair_site and e.kind == live_links.CONSOLE)
        ]
    upcoming = (
        not entries
        and conference.status == Status.SCHEDULED
        and timezone.now() < live_links.room_opens_at(conference)
        and (
            permissions.can_chair(user, conference)
            or bool(live_links.site_entries(user, conference))
        )
    )
    return {
        "entries": entries,
        "conference": conference,
        "opens_at": live_links.room_opens_at(conference) if upcoming else None,
        "several": _several(entries),
        "compact": compact,
        "boxed": boxed,
        "host_note": site is not None and site.pk == conference.chair_site_id,
    }
