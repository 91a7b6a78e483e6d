"""Template tags other pages use to show conferences (the home page's "upcoming" card)."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

from conferences import permissions
from conferences.models import Status

register = template.Library()


@register.inclusion_tag("conferences/_upcoming_card.html", takes_context=True)
def upcoming_conferences(context, limit: int = 6) -> dict[str, object]:
    """The next conferences the signed-in user may see: live ones first, then by start time."""
    user = context["request"].user
    since = timezone.now() - dt.timedelta(hours=12)
    conferences = (
        permissions.visible_conferences(user)
        .filter(status__in=[Status.SCHEDULED, Status.LIVE], planned_end__gte=since)
        .select_related("host_unit")
        .order_by("-status", "planned_start")[:limit]
    )
    return {"conferences": list(conferences), "user": user}
