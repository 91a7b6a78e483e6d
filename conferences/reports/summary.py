"""The history summary: attendance of ended conferences pre-aggregated for the dashboard.

A dashboard over years aggregated every invitation of the period (≈ 500,000 rows a year on the
benchmark data set, seconds per request). ``HistorySummary`` holds the same counts grouped per
month × level × host unit × invited unit (× absence reason of absent sites): a few thousand rows
a year. Distances stay on ``Unit``, so savings are computed from the summary at read time with
the same method and settings as before.

Maintenance: saving a conference or an invitation (services end a conference, record or correct
attendance with ``save()``) refreshes that conference's month, when the conference has ended;
deleting one does too. Bulk writes (``bulk_create``, ``update``, COPY) bypass this: callers then
run ``summary_refresh(months=...)`` or ``summary_rebuild()`` (``manage.py history_summary``).
The summary counts late joins with ``HISTORY_LATE_MINUTES``; rows counted with another value are
not used (the dashboard falls back to the invitations) until the summary is rebuilt.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    F,
    FloatField,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Abs, Cast, TruncMonth
from django.db.models.lookups import GreaterThanOrEqual
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from conferences.models import (
    Conference,
    HistoryConferenceSummary,
    HistorySummary,
    Invitation,
    Status,
)
from conferences.reports.filters import HistoryFilter
from conferences.reports.savings import SavingsMethod

ATTENDED = ("present", "connected")
ABSENT = ("absent", "absent_excused")


def month_of(moment: dt.datetime) -> dt.date:
    local = timezone.localtime(moment)
    return dt.date(local.year, local.month, 1)


def _month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(month, dt.time.min, tzinfo=tz)
    following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return start, dt.datetime.combine(following, dt.time.min, tzinfo=tz)


def _grouped(invitations: QuerySet[Invitation]) -> list[HistorySummary]:
    late_minutes = settings.HISTORY_LATE_MINUTES
    late_after = F("conference__planned_start") + dt.timedelta(minutes=late_minutes)
    attended = Q(status__in=ATTENDED)
    rows = (
        invitations.filter(conference__status=Status.ENDED)
        .annotate(
            m=TruncMonth("conference__planned_start", output_field=DateField()),
            r=Case(
                When(status__in=ABSENT, then=F("absence_reason")),
                default=Value(""),
                output_field=CharField(),
            ),
        )
        .values("m", "conference__level", "conference__host_unit_id", "unit_id", "r")
        .annotate(
            n_invited=Count("id"),
            n_attended=Count("id", filter=attended),
            n_excused=Count("id", filter=Q(status="absent_excused")),
            n_absent=Count("id", filter=Q(status="absent")),
            n_late=Count("id", filter=attended & Q(first_joined_at__gt=late_after)),
            n_headcount=Sum("headcount", filter=attended),
            n_without=Count("id", filter=attended & Q(headcount__isnull=True)),
        )
        .order_by()
    )
    return [
        HistorySummary(
            month=row["m"],
            level=row["conference__level"],
            host_unit_id=row["conference__host_unit_id"],
            unit_id=row["unit_id"],
            absence_reason=row["r"] or "",
            invited=row["n_invited"],
            attended=row["n_attended"],
            excused=row["n_excused"],
            absent=row["n_absent"],
            late=row["n_late"],
            late_minutes=late_minutes,
            headcount=row["n_headcount"] or 0,
            attended_without_headcount=row["n_without"],
        )
        for row in rows.iterator(chunk_size=5000)
    ]


def summary_refresh(*, months: Iterable[dt.date]) -> None:
    """Recompute the summary of these months (first days) from the invitations."""
    months = sorted(set(months))
    if not months:
        return
    period = Q()
    for month in months:
        start, end = _month_bounds(month)
        period |= Q(conference__planned_start__gte=start, conference__planned_start__lt=end)
    conference_period = Q()
    for month in months:
        start, end = _month_bounds(month)
        conference_period |= Q(planned_start__gte=start, planned_start__lt=end)
    with transaction.atomic():
        HistorySummary.objects.filter(month__in=months).delete()
        HistorySummary.objects.bulk_create(
            _grouped(Invitation.objects.filter(period)), batch_size=5000
        )
        HistoryConferenceSummary.objects.filter(month__in=months).delete()
        HistoryConferenceSummary.objects.bulk_create(
            _conference_rows(Conference.objects.filter(conference_period)), batch_size=5000
        )


def summary_rebuild() -> int:
    """Recompute the whole summary (after bulk loads or a change of HISTORY_LATE_MINUTES)."""
    with transaction.atomic():
        HistorySummary.objects.all().delete()
        rows = _grouped(Invitation.objects.all())
        HistorySummary.objects.bulk_create(rows, batch_size=5000)
        HistoryConferenceSummary.objects.all().delete()
        HistoryConferenceSummary.objects.bulk_create(
            _conference_rows(Conference.objects.all()), batch_size=5000
        )
    return len(rows)


def _conference_rows(conferences: QuerySet[Conference]) -> list[HistoryConferenceSummary]:
    from conferences.reports.dashboard import _duration

    ended = conferences.filter(status=Status.ENDED)
    month = TruncMonth("planned_start", output_field=DateField())
    out = [
        HistoryConferenceSummary(
            month=row["m"],
            level=row["level"],
            host_unit_id=row["host_unit_id"],
            conferences=row["n"],
            duration=row["d"],
            first_start=row["first"],
            last_start=row["last"],
        )
        for row in ended.annotate(m=month)
        .values("m", "level", "host_unit_id")
        .annotate(
            n=Count("id"), d=Sum(_duration()), first=Min("planned_start"), last=Max("planned_start")
        )
        .order_by()
    ]
    topics = (
        Conference.topics.through.objects.filter(conference__in=ended.values("pk"))
        .annotate(m=TruncMonth("conference__planned_start", output_field=DateField()))
        .values("m", "conference__level", "conference__host_unit_id", "topic_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    out += [
        HistoryConferenceSummary(
            month=row["m"],
            level=row["conference__level"],
            host_unit_id=row["conference__host_unit_id"],
            topic_id=row["topic_id"],
            conferences=row["n"],
        )
        for row in topics
    ]
    return out


# --- maintenance hooks ----------------------------------------------------------------------------


@receiver(pre_save, sender=Conference, dispatch_uid="history_summary_conference_saving")
def _conference_saving(sender, instance: Conference, **kwargs) -> None:
    """Remember the month of an ended conference before it is saved (it may move or reopen)."""
    instance._history_month_before = None
    if instance.pk and not kwargs.get("raw"):
        before = (
            Conference.objects.filter(pk=instance.pk, status=Status.ENDED)
            .values_list("planned_start", flat=True)
            .first()
        )
        instance._history_month_before = month_of(before) if before else None


@receiver(post_save, sender=Conference, dispatch_uid="history_summary_conference_saved")
@receiver(post_delete, sender=Conference, dispatch_uid="history_summary_conference_deleted")
def _conference_changed(sender, instance: Conference, **kwargs) -> None:
    months = {getattr(instance, "_history_month_before", None)}
    if instance.status == Status.ENDED and instance.planned_start:
        months.add(month_of(instance.planned_start))
    summary_refresh(months=months - {None})


@receiver(
    m2m_changed, sender=Conference.topics.through, dispatch_uid="history_summary_topics_changed"
)
def _topics_changed(sender, instance, action: str, reverse: bool, pk_set, **kwargs) -> None:
    if not action.startswith("post_"):
        return
    conferences = Conference.objects.filter(pk__in=pk_set or []) if reverse else [instance]
    months = {
        month_of(c.planned_start)
        for c in conferences
        if c.status == Status.ENDED and c.planned_start
    }
    summary_refresh(months=months)


@receiver(post_save, sender=Invitation, dispatch_uid="history_summary_invitation_saved")
@receiver(post_delete, sender=Invitation, dispatch_uid="history_summary_invitation_deleted")
def _invitation_changed(sender, instance: Invitation, **kwargs) -> None:
    origin = kwargs.get("origin")
    if isinstance(origin, Conference) or getattr(origin, "model", None) is Conference:
        return  # deleting its conference: the conference's own hook refreshes the month once
    conference = (
        Conference.objects.filter(pk=instance.conference_id).only("status", "planned_start").first()
    )
    if conference is None or conference.status != Status.ENDED:
        return  # live and upcoming conferences are not history; a deleted conference refreshes itself
    summary_refresh(months=[month_of(conference.planned_start)])


# --- reading ------------------------------------------------------------------------------------


def summary_applies(user, f: HistoryFilter) -> bool:
    """Whether the summary can answer this filter exactly (else the dashboard scans invitations).

    It cannot for topics or free text (conference-level filters it does not keep), for periods
    that do not start and end on month boundaries, or for site operators (their scope is by site).
    """
    from portal import permissions as org

    if f.q or f.topic:
        return False
    if f.date_from and f.date_from.day != 1:
        return False
    if f.date_to and f.date_to.day != calendar.monthrange(f.date_to.year, f.date_to.month)[1]:
        return False
    if not org.is_superuser(user) and org.sites_operated_by(user).exists():
        return False
    late = settings.HISTORY_LATE_MINUTES
    return not HistorySummary.objects.filter(
        Q(late_minutes__lt=late) | Q(late_minutes__gt=late)
    ).exists()


def conference_summary_rows(user, f: HistoryFilter) -> QuerySet[HistoryConferenceSummary] | None:
    """Conference-level summary rows for the filter, or None when they cannot answer exactly.

    They can when ``summary_applies`` and there is no unit filter, and every conference of the
    period is visible through its host (a superuser, or a user organising above every host of the
    period, e.g. the province's leader); others see conferences through their invitations too.
    """
    from conferences.permissions import ORGANISERS
    from portal import permissions as org

    if f.unit:
        return None
    rows = HistoryConferenceSummary.objects.all()
    if f.date_from:
        rows = rows.filter(month__gte=f.date_from)
    if f.date_to:
        rows = rows.filter(month__lte=f.date_to)
    if f.level:
        rows = rows.filter(level=f.level)
    if (
        not org.is_superuser(user)
        and rows.exclude(org.units_q(user, ORGANISERS, prefix="host_unit__")).exists()
    ):
        return None
    return rows


def summary_rows(user, f: HistoryFilter) -> QuerySet[HistorySummary]:
    """Summary rows of the attendance a user may see under the filter (cf. ``history_invitations``).

    For a non-superuser, attendance is that of units in their subtrees and of conferences hosted
    where they organise; both make the conference visible, so no conference check is needed.
    """
    from conferences.permissions import ALL_ROLES, ORGANISERS
    from conferences.reports.successors import subtree_q
    from portal import permissions as org

    rows = HistorySummary.objects.all()
    if f.date_from:
        rows = rows.filter(month__gte=f.date_from)
    if f.date_to:
        rows = rows.filter(month__lte=f.date_to)
    if f.level:
        rows = rows.filter(level=f.level)
    if not org.is_superuser(user):
        rows = rows.filter(
            org.units_q(user, ALL_ROLES, prefix="unit__")
            | org.units_q(user, ORGANISERS, prefix="host_unit__")
        )
    if f.unit:
        rows = rows.filter(subtree_q("unit", f.unit, mapped=f.successors))
    return rows


def summary_distance():
    return Abs(
        Cast("unit__distance_km", FloatField()) - Cast("host_unit__distance_km", FloatField())
    )


def summary_attendees(method: SavingsMethod):
    return F("headcount") + F("attended_without_headcount") * Value(method.default_attendees)


def summary_saving(method: SavingsMethod):
    """The savings method (``reports.savings``) applied to a summary row's attended sites."""
    travel = Cast("attended", FloatField()) * summary_distance() * Value(2.0 * method.cost_per_km)
    per_diem = Case(
        When(
            GreaterThanOrEqual(summary_distance(), Value(float(method.per_diem_min_km))),
            then=Cast(summary_attendees(method), FloatField()) * Value(float(method.per_diem)),
        ),
        default=Value(0.0),
        output_field=FloatField(),
    )
    return travel + per_diem
