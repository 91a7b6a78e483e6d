"""The history summaries' maintenance: services mark months dirty, one job recomputes them.

The summaries (``HistorySummary``, ``HistoryConferenceSummary``) are derived data, rebuilt and
never patched (the habit of zulip's ``analytics``: idempotent fills under a lock, rows with a
unique key over their dimensions):

- ``history_mark_dirty(conference=…)`` is called by every service that changes what an ended
  conference counts: ending it, recording or correcting its attendance, a join time. It writes
  nothing in the caller's transaction; it registers (once per month and transaction) a callback
  that, after the commit, inserts the month into ``HistoryDirtyMonth`` with
  ``INSERT … ON CONFLICT DO NOTHING``.
- ``history_refresh_dirty()`` takes the refresh lock (a PostgreSQL advisory transaction lock; a
  process lock on SQLite), claims the dirty months (deletes their marks), deletes their summary
  rows and recomputes them from the conferences and invitations, in one transaction per batch
  of months. Running it again changes nothing; two at once wait for each other.
- Who runs it: ``HISTORY_SUMMARY_REFRESH = "inline"`` (the embedded default) runs it right after
  the commit that marked; ``"beat"`` (the default with ``REDIS_URL``) leaves it to the Celery
  beat task ``conferences.tasks.history_summary_refresh``. While a month is marked, the dashboard
  reads that period from the invitations (``reports.summary.summary_applies``): exact, slower.
- ``history_rebuild()`` recomputes everything (bulk loads that bypass the services, a new
  ``HISTORY_LATE_MINUTES``): ``manage.py history_summary``.

Why marking after the commit keeps the figures exact when corrections and a refresh overlap
(READ COMMITTED): a change committed at t1 is marked at t2 > t1. If the refresh claimed the
month before t2, its mark is inserted again (the insert waits for the claiming transaction and
then finds the row gone), so a later refresh counts it. If the claim came after t2, the claim
and the queries that follow it start after t1 and see the change. A mark written inside the
caller's transaction could instead be claimed by a refresh that cannot yet see the change, and
the month would stay wrong. The unique keys make a double count impossible rather than silent.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncMonth

from conferences.models import (
    Conference,
    HistoryConferenceSummary,
    HistoryDirtyMonth,
    HistorySummary,
    Invitation,
    Status,
)
from conferences.reports.expressions import ABSENT, ATTENDED, duration, month_bounds, month_of

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the refresh ("giao" in ASCII): one refresh at a time, everywhere.
LOCK_KEY = 0x6769616F
MONTHS_PER_TRANSACTION = 12
_process_lock = threading.RLock()


# --- marking --------------------------------------------------------------------------------


class _MarkAfterCommit:
    """The after-commit callback of one month (recognised so a transaction registers it once)."""

    def __init__(self, month: dt.date) -> None:
        self.month = month
        self.done = False

    def __call__(self) -> None:
        self.done = True
        mark_months_dirty([self.month])
        if settings.HISTORY_SUMMARY_REFRESH == "inline":
            history_refresh_dirty()


def history_mark_dirty(*, conference: Conference, months: Iterable[dt.date] = ()) -> None:
    """After the current transaction commits, mark the month of ``conference`` (if it has ended)
    and any ``months`` given (e.g. the month an ended conference moved from) as dirty."""
    wanted = set(months)
    if conference.status == Status.ENDED and conference.planned_start:
        wanted.add(month_of(conference.planned_start))
    for month in sorted(wanted):
        if not _registered(month):
            transaction.on_commit(_MarkAfterCommit(month), robust=True)


def _registered(month: dt.date) -> bool:
    """Whether this transaction already marks ``month`` after commit. Django drops the callbacks
    of a savepoint that rolls back from this list, so a mark is never skipped wrongly."""
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        return False
    return any(
        isinstance(func, _MarkAfterCommit) and func.month == month and not func.done
        for _sids, func, _robust in conn.run_on_commit
    )


def mark_months_dirty(months: Iterable[dt.date]) -> None:
    """Insert the marks now (``INSERT … ON CONFLICT DO NOTHING``): for callers that have just
    committed, and for bulk writers (``QuerySet.update``, COPY) that changed these months."""
    rows = [HistoryDirtyMonth(month=month.replace(day=1)) for month in set(months)]
    if rows:
        HistoryDirtyMonth.objects.bulk_create(rows, ignore_conflicts=True)


# --- refreshing -----------------------------------------------------------------------------


@contextlib.contextmanager
def _refresh_transaction() -> Iterator[None]:
    """One refresh at a time: a process lock (SQLite has nothing else) held until the commit,
    and a PostgreSQL advisory lock held by the transaction (other processes and hosts wait)."""
    with _process_lock, transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        yield


def history_refresh_dirty(*, batch: int = MONTHS_PER_TRANSACTION) -> list[dt.date]:
    """Recompute every dirty month (claimed ``batch`` months per transaction); the months done."""
    done: list[dt.date] = []
    while True:
        with _refresh_transaction():
            claimed = list(
                HistoryDirtyMonth.objects.select_for_update()
                .order_by("month")
                .values_list("month", flat=True)[:batch]
            )
            if not claimed:
                return done
            started = time.monotonic()
            HistoryDirtyMonth.objects.filter(month__in=claimed).delete()
            rows = _recompute(claimed)
        logger.info(
            "history summary: %s months, %s rows in %.2fs",
            len(claimed),
            rows,
            time.monotonic() - started,
        )
        done += claimed


def history_refresh_months(*, months: Iterable[dt.date]) -> int:
    """Recompute these months now, marked or not (tests, one-off repairs); returns rows written."""
    months = sorted({m.replace(day=1) for m in months})
    if not months:
        return 0
    with _refresh_transaction():
        HistoryDirtyMonth.objects.filter(month__in=months).delete()
        return _recompute(months)


def history_rebuild() -> int:
    """Recompute every summary from scratch; returns the number of attendance rows."""
    with _refresh_transaction():
        HistoryDirtyMonth.objects.all().delete()
        HistorySummary.objects.all().delete()
        HistoryConferenceSummary.objects.all().delete()
        rows = _attendance_rows(Invitation.objects.all())
        HistorySummary.objects.bulk_create(rows, batch_size=5000)
        HistoryConferenceSummary.objects.bulk_create(
            _conference_rows(Conference.objects.all()), batch_size=5000
        )
    return len(rows)


def _recompute(months: list[dt.date]) -> int:
    period = Q()
    for month in months:
        start, end = month_bounds(month)
        period |= Q(planned_start__gte=start, planned_start__lt=end)
    conferences = Conference.objects.filter(period)
    HistorySummary.objects.filter(month__in=months).delete()
    HistoryConferenceSummary.objects.filter(month__in=months).delete()
    rows = _attendance_rows(
        Invitation.objects.filter(
            conference__in=conferences.filter(status=Status.ENDED).values("pk")
        )
    )
    HistorySummary.objects.bulk_create(rows, batch_size=5000)
    conference_rows = _conference_rows(conferences)
    HistoryConferenceSummary.objects.bulk_create(conference_rows, batch_size=5000)
    return len(rows) + len(conference_rows)


def _attendance_rows(invitations: QuerySet[Invitation]) -> list[HistorySummary]:
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


def _conference_rows(conferences: QuerySet[Conference]) -> list[HistoryConferenceSummary]:
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
            n=Count("id"), d=Sum(duration()), first=Min("planned_start"), last=Max("planned_start")
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
