"""iCalendar for conferences: the invitation attachment and each site's private feed.

Contract: a conference is always the same event to calendar programs — UID
``<code>@giaoban`` — and ``SEQUENCE`` is ``Conference.sequence``, which the scheduling service
raises on every change it sends out; so an update replaces the event and a ``METHOD:CANCEL``
with ``STATUS:CANCELLED`` removes it. Built with the maintained ``icalendar`` package.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress, vText

from conferences.models import Conference, Status

PRODID = "-//Giao Ban//Hội nghị trực tuyến//VI"
UID_DOMAIN = "giaoban"


def conference_uid(conference: Conference) -> str:
    return f"{conference.code}@{UID_DOMAIN}"


def _url(conference: Conference) -> str:
    try:
        return settings.SITE_URL + reverse("conference_detail", args=[conference.code])
    except NoReverseMatch:
        return settings.SITE_URL + reverse("my_conferences")


def conference_event(
    conference: Conference, *, cancelled: bool = False, hide_details: bool = False
) -> Event:
    event = Event()
    event.add("uid", conference_uid(conference))
    event.add("sequence", conference.sequence)
    event.add("dtstamp", timezone.now())
    event.add("dtstart", conference.planned_start)
    event.add("dtend", conference.planned_end)
    event.add("summary", "Hội nghị (mật)" if hide_details else conference.title)
    if not hide_details:
        lines = [
            f"Cấp: {conference.get_level_display()}",
            f"Đơn vị chủ trì: {conference.host_unit.name}",
        ]
        if conference.chair_name:
            lines.append(f"Chủ trì: {conference.chair_name}")
        if conference.description:
            lines += ["", conference.description]
        event.add("description", "\n".join(lines))
        if conference.chair_site_id:
            event.add("location", conference.chair_site.name)
        event.add("url", _url(conference))
    organizer = vCalAddress(f"mailto:{settings.DEFAULT_FROM_EMAIL}")
    organizer.params["cn"] = vText(conference.host_unit.name)
    event.add("organizer", organizer)
    is_cancelled = cancelled or conference.status == Status.CANCELLED
    event.add("status", "CANCELLED" if is_cancelled else "CONFIRMED")
    return event


def _calendar(method: str | None, name: str | None = None) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    if method:
        cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
    return cal


def invitation_ics(conference: Conference, kind: str) -> bytes:
    """The ``.ics`` attached to an invitation e-mail: REQUEST, or CANCEL for a cancellation."""
    cancelled = kind == "cancelled"
    cal = _calendar("CANCEL" if cancelled else "REQUEST")
    cal.add_component(conference_event(conference, cancelled=cancelled))
    return cal.to_ical()


def feed_ics(site_name: str, conferences: Iterable[Conference]) -> bytes:
    """A site's subscription feed (PUBLISH); confidential conferences show no title or details."""
    cal = _calendar("PUBLISH", f"Giao ban — {site_name}")
    for conference in conferences:
        cal.add_component(conference_event(conference, hide_details=conference.confidential))
    return cal.to_ical()


FEED_PAST = dt.timedelta(days=30)
