"""Builders for history tests: an ended conference at a given date with recorded attendance.

They write rows directly (like a bulk import, not through the services), so like any bulk writer
they recompute the month's history summaries themselves.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from conferences.models import Conference, Invitation, Level, Status
from conferences.reports.expressions import month_of
from conferences.services.history import history_refresh_months
from portal.models import Site, Unit


def ended_conference(
    day: dt.date,
    *,
    host: str = "15-UBND",
    level: str = Level.PROVINCE_TO_DISTRICT,
    title: str = "Hội nghị giao ban",
    hours: int = 2,
) -> Conference:
    tz = timezone.get_default_timezone()
    start = dt.datetime.combine(day, dt.time(8, 0), tzinfo=tz)
    conference = Conference.objects.create(
        title=title,
        level=level,
        host_unit=Unit.objects.get(code=host),
        chair_site=Site.objects.get(key=host),
        planned_start=start,
        planned_end=start + dt.timedelta(hours=hours),
        actual_start=start,
        actual_end=start + dt.timedelta(hours=hours),
        status=Status.ENDED,
    )
    history_refresh_months(months=[month_of(start)])
    return conference


def attend(
    conference: Conference,
    key: str,
    *,
    status: str = "present",
    headcount: int | None = None,
    reason: str = "",
    late_minutes: int | None = None,
) -> Invitation:
    site = Site.objects.select_related("unit").get(key=key)
    joined = None
    if status in ("present", "connected"):
        joined = conference.planned_start + dt.timedelta(
            minutes=late_minutes if late_minutes is not None else -5
        )
    invitation = Invitation.objects.create(
        conference=conference,
        site=site,
        unit=site.unit,
        status=status,
        headcount=headcount,
        absence_reason=reason,
        first_joined_at=joined,
    )
    history_refresh_months(months=[month_of(conference.planned_start)])
    return invitation
