"""The history summaries' maintenance: services mark months dirty, one job recomputes them.

The summaries (``HistorySummary``, its yearly roll-up ``HistoryYearSummary``,
``HistoryConferenceSummary``) are derived data, rebuilt and
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
  of months; then, in the same transaction, rewrites the yearly roll-up of each year touched
  from that year's monthly rows. Running it again changes nothing; two at once wait for each
  other.
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
from collections.abc import Iterable, Iterator, Sequence

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
    HistoryYearSummary,
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
                # For this transaction only (one refresh at a time): a month's ~45,000
                # invitations (at the benchmark's scale) group in memory instead of an external
                # sort (41 ms instead of 77 ms, EXPLAIN ANALYZE); and the commit does not wait
                # for the WAL flush. That is safe for derived data: a crash loses the whole
                # transaction, claim of the dirty marks included, so the months stay marked.
                cursor.execute("SET LOCAL work_mem = '32MB'")
                cursor.execute("SET LOCAL synchronous_commit = off")
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
        HistoryYearSummary.objects.all().delete()
        HistoryConferenceSummary.objects.all().delete()
        months = (
            Conference.objects.filter(status=Status.ENDED)
            .annotate(m=TruncMonth("planned_start", output_field=DateField()))
            .values_list("m", flat=True)
            .distinct()
            .order_by("m")
        )
        months = list(months)
        rows = sum(_fill_month(month)[0] for month in months)
        for year in sorted({month.year for month in months}):
            _fill_year(year)
        return rows


def _recompute(months: list[dt.date]) -> int:
    HistorySummary.objects.filter(month__in=months).delete()
    HistoryConferenceSummary.objects.filter(month__in=months).delete()
    rows = sum(sum(_fill_month(month)) for month in months)
    for year in sorted({month.year for month in months}):
        HistoryYearSummary.objects.filter(year=dt.date(year, 1, 1)).delete()
        _fill_year(year)
    return rows


YEAR_COUNTS = (
    "invited",
    "attended",
    "excused",
    "absent",
    "late",
    "headcount",
    "attended_without_headcount",
)


def _fill_year(year: int) -> int:
    """Sum the (just rewritten) monthly attendance rows of ``year`` key for key into its
    (emptied) yearly roll-up: one ``INSERT … SELECT`` over the year's monthly rows, not the
    invitations. Returns the rows written."""
    return _insert(
        HistoryYearSummary,
        dt.date(year, 1, 1),
        HistorySummary.objects.filter(
            month__gte=dt.date(year, 1, 1), month__lt=dt.date(year + 1, 1, 1)
        )
        .values("level", "host_unit_id", "unit_id", "absence_reason")
        .annotate(late_min=Min("late_minutes"), **{f"s_{name}": Sum(name) for name in YEAR_COUNTS})
        .order_by(),
        {
            "level": "s.level",
            "host_unit": "s.host_unit_id",
            "unit": "s.unit_id",
            "absence_reason": "s.absence_reason",
            "late_minutes": "s.late_min",
            **{name: f"s.s_{name}" for name in YEAR_COUNTS},
        },
    )


def _fill_month(month: dt.date) -> tuple[int, int]:
    """Aggregate one month's ended conferences straight into the (emptied) summary tables: one
    ``INSERT … SELECT`` per table, nothing read into Python. Returns (attendance rows, conference
    rows) written."""
    start, end = month_bounds(month)
    in_month = {"planned_start__gte": start, "planned_start__lt": end, "status": Status.ENDED}
    of_month = {f"conference__{key}": value for key, value in in_month.items()}
    late_minutes = settings.HISTORY_LATE_MINUTES
    attendance = _insert(
        HistorySummary,
        month,
        _attendance_select(Invitation.objects.filter(**of_month), late_minutes),
        {
            "level": "s.lv",
            "host_unit": "s.host",
            "unit": "s.u",
            "absence_reason": "s.r",
            "invited": "s.n_invited",
            "attended": "s.n_attended",
            "excused": "s.n_excused",
            "absent": "s.n_absent",
            "late": "s.n_late",
            "late_minutes": "%s",
            "headcount": "COALESCE(s.n_headcount, 0)",
            "attended_without_headcount": "s.n_without",
        },
        [late_minutes],
    )
    keys = {"level": "s.lv", "host_unit": "s.host"}
    conferences = _insert(
        HistoryConferenceSummary,
        month,
        Conference.objects.filter(**in_month)
        .annotate(lv=F("level"), host=F("host_unit_id"))
        .values("lv", "host")
        .annotate(
            n=Count("id"), d=Sum(duration()), first=Min("planned_start"), last=Max("planned_start")
        )
        .order_by(),
        {
            **keys,
            "topic": "NULL",
            "conferences": "s.n",
            "duration": "s.d",
            "first_start": "s.first",
            "last_start": "s.last",
        },
    )
    conferences += _insert(
        HistoryConferenceSummary,
        month,
        Conference.topics.through.objects.filter(**of_month)
        .values(lv=F("conference__level"), host=F("conference__host_unit_id"), t=F("topic_id"))
        .annotate(n=Count("id"))
        .order_by(),
        {**keys, "topic": "s.t", "conferences": "s.n"},
    )
    return attendance, conferences


def _attendance_select(invitations: QuerySet[Invitation], late_minutes: int) -> QuerySet:
    """Attendance of these invitations grouped by level × host × invited unit × absence reason
    (of absent rows): the columns of ``HistorySummary`` but its month and ``late_minutes``."""
    late_after = F("conference__planned_start") + dt.timedelta(minutes=late_minutes)
    attended = Q(status__in=ATTENDED)
    return (
        invitations.annotate(
            lv=F("conference__level"),
            host=F("conference__host_unit_id"),
            u=F("unit_id"),
            r=Case(
                When(status__in=ABSENT, then=F("absence_reason")),
                default=Value(""),
                output_field=CharField(),
            ),
        )
        .values("lv", "host", "u", "r")
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


def _insert(
    model, period: dt.date, select: QuerySet, columns: dict[str, str], params: Sequence = ()
) -> int:
    """``INSERT INTO <model> (<period>, <fields>) SELECT <period>, <expressions> FROM (<select>) s``
    (the period is the model's ``month`` or ``year``, a date).

    ``columns`` maps fields to SQL over the select's aliases (``s.<alias>``), literals, or ``%s``
    for the ``params`` in order. Returns the number of rows inserted.
    """
    quote = connection.ops.quote_name
    period_field = "year" if model is HistoryYearSummary else "month"
    fields = [model._meta.get_field(name).column for name in (period_field, *columns)]
    inner, inner_params = select.query.sql_with_params()
    # Only the model's own table and column names and the fixed expressions above are spliced
    # into the statement; every value is a parameter.
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(quote, fields))}) "  # noqa: S608
        f"SELECT %s, {', '.join(columns.values())} FROM ({inner}) s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datefield_value(period), *params, *inner_params])
        return max(cursor.rowcount, 0)
