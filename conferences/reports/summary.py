"""Reading the history summaries: whether they answer a filter exactly, and their rows.

``HistorySummary`` holds attendance of ended conferences per month × level × host unit × invited
unit (× absence reason of absent sites), ``HistoryYearSummary`` the same per year;
``HistoryConferenceSummary`` conferences per month × level × host (× topic). A dashboard over
years reads a few thousand of these rows instead of millions of invitations: whole years from
the yearly roll-up, the months at the edges of its period from the monthly rows
(``summary_row_parts``). Distances stay on ``Unit``, so savings are computed from the summary at
read time with the same method and settings as from the invitations.

They are maintained by ``conferences.services.history`` (months marked dirty by the services,
recomputed by one job). Readers use them only where they are exact: never for a month still
marked dirty, nor for rows counted with another ``HISTORY_LATE_MINUTES``; the dashboard then
reads the invitations (the same figures, slower).
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.conf import settings
from django.db import connection
from django.db.models import (
    Case,
    Exists,
    F,
    FloatField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Abs, Cast
from django.db.models.lookups import GreaterThanOrEqual

from conferences.models import (
    HistoryConferenceSummary,
    HistoryDirtyMonth,
    HistorySummary,
    HistoryYearSummary,
)
from conferences.reports.filters import HistoryFilter
from conferences.reports.savings import SavingsMethod
from portal.models import Unit

# --- reading ------------------------------------------------------------------------------------


def summary_applies(user, f: HistoryFilter) -> bool:
    """Whether the summary can answer this filter exactly (else the dashboard scans invitations).

    It cannot for topics or free text (conference-level filters it does not keep), for periods
    that do not start and end on month boundaries, for site operators (their scope is by site),
    while a month of the period is marked dirty, or for rows counted with another
    ``HISTORY_LATE_MINUTES``.
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
    dirty = HistoryDirtyMonth.objects.all()
    if f.date_from:
        dirty = dirty.filter(month__gte=f.date_from)
    if f.date_to:
        dirty = dirty.filter(month__lte=f.date_to)
    if dirty.exists():
        return False  # changed since the last refresh: the invitations are exact
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
    """Monthly summary rows of the attendance a user may see under the filter (cf.
    ``history_invitations``), for readers that group by month."""
    rows = HistorySummary.objects.all()
    if f.date_from:
        rows = rows.filter(month__gte=f.date_from)
    if f.date_to:
        rows = rows.filter(month__lte=f.date_to)
    return _in_scope(rows, user, f)


def summary_row_parts(user, f: HistoryFilter) -> list[QuerySet]:
    """The rows of ``summary_rows`` with each whole year of the period taken from the yearly
    roll-up instead of its months: one or two querysets over the same fields (``month`` or
    ``year`` apart) whose sums, added, are the sums over ``summary_rows``.

    A year is whole when the period covers it from 1 January to 31 December (an open end covers
    every year on that side); the months outside the whole years come from ``HistorySummary``.
    Only for filters ``summary_applies`` to (periods on month boundaries).
    """
    first, last = _whole_years(f)
    if first is not None and last is not None and first > last:
        return [summary_rows(user, f)]
    years = HistoryYearSummary.objects.all()
    edges = Q()
    if first is not None:
        years = years.filter(year__gte=dt.date(first, 1, 1))
        if f.date_from and f.date_from < dt.date(first, 1, 1):
            edges |= Q(month__lt=dt.date(first, 1, 1))
    if last is not None:
        years = years.filter(year__lte=dt.date(last, 1, 1))
        if f.date_to and f.date_to >= dt.date(last + 1, 1, 1):
            edges |= Q(month__gte=dt.date(last + 1, 1, 1))
    parts: list[QuerySet] = [_in_scope(years, user, f)]
    if edges:
        parts.append(summary_rows(user, f).filter(edges))
    return parts


def _whole_years(f: HistoryFilter) -> tuple[int | None, int | None]:
    """First and last year the period covers entirely (None: no bound on that side)."""
    first = last = None
    if f.date_from:
        first = f.date_from.year + ((f.date_from.month, f.date_from.day) != (1, 1))
    if f.date_to:
        last = f.date_to.year - ((f.date_to.month, f.date_to.day) != (12, 31))
    return first, last


def _in_scope(rows: QuerySet, user, f: HistoryFilter) -> QuerySet:
    """Summary rows (monthly or yearly) of the filter's level and unit that ``user`` may see.

    For a non-superuser, attendance is that of units in their subtrees and of conferences hosted
    where they organise; both make the conference visible, so no conference check is needed.
    """
    from conferences.permissions import ALL_ROLES, ORGANISERS
    from conferences.reports.successors import unit_subtree_q
    from portal import permissions as org

    if f.level:
        rows = rows.filter(level=f.level)
    # Units as uncorrelated IN lists (hashed once by PostgreSQL) rather than joins to the unit
    # table for their paths: ten years are ~100,000 summary rows, and two hash joins per row
    # took two thirds of the dashboard's per-unit and absence-reason queries. A user whose
    # subtrees hold every unit (the province's leader) needs no check per row at all: the first
    # test is uncorrelated, evaluated once (an InitPlan), and short-circuits the others.
    if not org.is_superuser(user):
        in_scope = org.units_q(user, ALL_ROLES)
        rows = rows.filter(
            ~Exists(Unit.objects.exclude(in_scope))
            | Q(unit__in=Unit.objects.filter(in_scope).values("pk"))
            | Q(host_unit__in=Unit.objects.filter(org.units_q(user, ORGANISERS)).values("pk"))
        )
    if f.unit:
        rows = rows.filter(
            unit__in=Unit.objects.filter(unit_subtree_q(f.unit, mapped=f.successors)).values("pk")
        )
    return rows


def summed_top(selects: list[QuerySet], *, key: str, total: str, limit: int) -> list[dict]:
    """The ``limit`` values of ``key`` with the largest sums of ``total`` over ``selects`` (each a
    ``.values(key).annotate(total=…)`` query, e.g. one per part of ``summary_row_parts``), ties
    ordered by ``key``, sums of 0 left out: ``[{key: …, total: …}]``.

    One statement over their ``UNION ALL``, so the order of ties is the database's collation, as
    for one grouped query over all the rows (the ORM cannot aggregate over a union).
    """
    quote = connection.ops.quote_name
    k, t = f"u.{quote(key)}", f"u.{quote(total)}"
    inner, params = [], []
    for select in selects:
        sql, select_params = select.query.sql_with_params()
        inner.append(sql)
        params += select_params
    # Only the two field names given by the caller (quoted) and the compiled querysets are
    # spliced into the statement; every value is a parameter.
    sql = (
        f"SELECT {k}, SUM({t}) FROM ({' UNION ALL '.join(inner)}) u "  # noqa: S608
        f"GROUP BY {k} HAVING SUM({t}) > 0 ORDER BY 2 DESC, 1 LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        return [{key: value, total: int(n)} for value, n in cursor.fetchall()]


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
