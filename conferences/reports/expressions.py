"""Expressions and constants shared by the history's readers (dashboard, search, exports) and
the summaries' maintenance (``conferences.services.history``).

They live here, below both, so neither imports the other: the dashboard reads what the
maintenance wrote with the very same definitions of "attended", "absent", a month and a duration.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import DurationField, ExpressionWrapper
from django.db.models.functions import Coalesce
from django.utils import timezone

ATTENDED = ("present", "connected")
ABSENT = ("absent", "absent_excused")


def duration():
    """A conference's length: actual times where recorded, planned ones otherwise."""
    return ExpressionWrapper(
        Coalesce("actual_end", "planned_end") - Coalesce("actual_start", "planned_start"),
        output_field=DurationField(),
    )


def month_of(moment: dt.datetime) -> dt.date:
    """First day of the month of ``moment`` in the portal's time zone (the summaries' key)."""
    local = timezone.localtime(moment)
    return dt.date(local.year, local.month, 1)


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Aware datetimes [start, end) of a month in the portal's time zone."""
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(month, dt.time.min, tzinfo=tz)
    following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, dt.datetime.combine(following, dt.time.min, tzinfo=tz)
