"""Dashboard figures for a period and a subtree: a fixed number of grouped queries.

``dashboard_figures`` returns plain data (numbers, labels, lists of dicts) that the page, the
exports and the API render alike; nothing in it depends on the number of conferences shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Count,
    F,
    FloatField,
    Max,
    Min,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import TruncMonth
from django.utils.translation import get_language

from conferences.models import AttendanceEntry, Conference, Invitation, Level
from conferences.reports import summary
from conferences.reports.expressions import duration
from conferences.reports.filters import HistoryFilter
from conferences.reports.savings import (
    SavingsMethod,
    attendees_expression,
    distance_expression,
    saving_expression,
)
from conferences.reports.search import ABSENT, ATTENDED, history_conferences, history_invitations
from conferences.reports.successors import unit_key
from portal import permissions as org
from portal.models import Unit

TOP_HOSTS = 15
TOP_REASONS = 10
NO_REASON = "Không ghi lý do"


def _minutes(value) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.timedelta):
        return round(value.total_seconds() / 60)
    return round(value / 60_000_000)  # microseconds on backends without an interval type


def _bucket(f: HistoryFilter, span: tuple[Any, Any]) -> str:
    first, last = (f.date_from, f.date_to)
    if not (first and last) and span[0] and span[1]:
        first, last = span[0].date(), span[1].date()
    if first and last and (last.year - first.year) * 12 + last.month - first.month < 24:
        return "month"
    return "year"


def dashboard_figures(user, f: HistoryFilter) -> dict[str, Any]:
    """The figures, from the cache when the history has not changed since they were computed.

    Ended conferences rarely change, and leaders open the same dashboards again and again; the
    key holds the user's scope, the filter, the language and a stamp of the history (counts
    and latest ids/updates), so a new conference or attendance correction is seen at once.
    ``HISTORY_CACHE_SECONDS=0`` turns the cache off.
    """
    seconds = settings.HISTORY_CACHE_SECONDS
    if seconds <= 0:
        return compute_dashboard(user, f)
    key = _cache_key(user, f)
    figures = cache.get(key)
    if figures is None:
        figures = compute_dashboard(user, f)
        cache.set(key, figures, seconds)
    return figures


def _cache_key(user, f: HistoryFilter) -> str:
    stamp = Conference.objects.filter(status="ended").aggregate(
        n=Count("id"), last=Max("updated_at"), top=Max("id")
    )
    latest = (
        Invitation.objects.aggregate(top=Max("id"))["top"],
        AttendanceEntry.objects.aggregate(top=Max("id"))["top"],
        Unit.objects.filter(successor__isnull=False).count(),
    )
    if org.is_superuser(user):
        scope = "superuser"
    else:
        scope = repr(
            (
                sorted(org._memberships(user)),
                sorted(org.sites_operated_by(user).values_list("pk", flat=True)),
            )
        )
    raw = repr((scope, sorted(f.as_query().items()), get_language(), stamp, latest))
    return "history-dashboard:" + hashlib.sha256(raw.encode()).hexdigest()


def compute_dashboard(user, f: HistoryFilter) -> dict[str, Any]:
    conferences = history_conferences(user, f)
    invitations = history_invitations(user, f, conferences)
    late_after = F("conference__planned_start") + dt.timedelta(
        minutes=settings.HISTORY_LATE_MINUTES
    )

    # One grouped scan of the conferences (level × month × host) gives totals, levels, periods
    # and hosts; each used to be a scan of its own.
    use_summary = summary.summary_applies(user, f)
    conference_rows = summary.conference_summary_rows(user, f) if use_summary else None
    if conference_rows is not None:
        groups = list(
            conference_rows.filter(topic__isnull=True)
            .annotate(p=F("month"), k=unit_key("host_unit", mapped=f.successors))
            .values("level", "p", "k")
            .annotate(
                n=Sum("conferences"),
                minutes=Sum("duration"),
                first=Min("first_start"),
                last=Max("last_start"),
            )
            .order_by()
        )
    else:
        groups = list(
            conferences.annotate(
                p=TruncMonth("planned_start"), k=unit_key("host_unit", mapped=f.successors)
            )
            .values("level", "p", "k")
            .annotate(
                n=Count("id"),
                minutes=Sum(duration()),
                first=Min("planned_start"),
                last=Max("planned_start"),
            )
            .order_by()
        )
    n = sum(g["n"] for g in groups)
    durations = [g["minutes"] for g in groups if g["minutes"] is not None]
    total_minutes = _minutes(sum(durations[1:], durations[0]) if durations else None)
    span = (
        min((g["first"] for g in groups), default=None),
        max((g["last"] for g in groups), default=None),
    )

    by_level_rows: dict[str, int] = {}
    for g in groups:
        by_level_rows[g["level"]] = by_level_rows.get(g["level"], 0) + g["n"]
    by_level = [
        {"key": key, "label": str(label), "count": by_level_rows.get(key, 0)}
        for key, label in Level.choices
        if by_level_rows.get(key) or key in _MAIN_LEVELS
    ]

    bucket = _bucket(f, span)
    periods: dict[str, list] = {}
    for g in groups:
        if g["p"] is None:
            continue
        label = g["p"].strftime("%m/%Y" if bucket == "month" else "%Y")
        start = g["p"] if bucket == "month" else g["p"].replace(month=1)
        periods.setdefault(label, [start, 0])[1] += g["n"]
    by_period = [
        {"label": label, "count": count}
        for label, (start, count) in sorted(periods.items(), key=lambda item: item[1][0])
    ]

    hosts: dict[int, int] = {}
    for g in groups:
        hosts[g["k"]] = hosts.get(g["k"], 0) + g["n"]
    host_rows = [
        {"k": k, "n": count}
        for k, count in sorted(hosts.items(), key=lambda item: (-item[1], item[0]))[:TOP_HOSTS]
    ]
    if conference_rows is not None:
        topic_rows = list(
            conference_rows.filter(topic__isnull=False)
            .values("topic__slug", "topic__name")
            .annotate(n=Sum("conferences"))
            .order_by("-n", "topic__name")
        )
    else:
        topic_rows = list(
            Conference.topics.through.objects.filter(conference__in=conferences.values("pk"))
            .values("topic__slug", "topic__name")
            .annotate(n=Count("id"))
            .order_by("-n", "topic__name")
        )

    method = SavingsMethod.from_settings()
    if use_summary:
        unit_rows, reasons = _attendance_from_summary(user, f, method)
    else:
        unit_rows, reasons = _attendance_from_invitations(invitations, f, late_after, method)
    att = {
        key: sum(row[key] or 0 for row in unit_rows)
        for key in (
            "invited",
            "attended",
            "excused",
            "absent",
            "late",
            "recorded_people",
            "attendees",
            "saving",
            "km",
        )
    }

    unit_ids = {row["k"] for row in unit_rows} | {row["k"] for row in host_rows}
    units = Unit.objects.only("id", "code", "name", "path", "valid_to").in_bulk(unit_ids)

    def unit_info(pk):
        u = units.get(pk)
        return (
            {"code": u.code, "name": u.name, "closed": u.valid_to}
            if u
            else {"code": "", "name": "?", "closed": None}
        )

    by_unit = []
    for row in unit_rows:
        rate = row["attended"] / row["invited"] if row["invited"] else 0.0
        by_unit.append(
            {
                **unit_info(row["k"]),
                **{k: row[k] for k in ("invited", "attended", "excused", "absent", "late")},
                "rate": rate,
                "saving": round(row["saving"] or 0),
            }
        )
    by_unit.sort(key=lambda r: (-r["rate"], -r["invited"], r["code"]))
    for rank, row in enumerate(by_unit, start=1):
        row["rank"] = rank

    savings = {"total": round(att["saving"]), "km": round(att["km"]), "attendees": att["attendees"]}
    return {
        "filter": f.as_query(),
        "conferences": n,
        "total_minutes": total_minutes,
        "average_minutes": round(total_minutes / n) if n else 0,
        "invited": att["invited"],
        "attended": att["attended"],
        "excused": att["excused"],
        "absent": att["absent"],
        "late": att["late"],
        "late_minutes": settings.HISTORY_LATE_MINUTES,
        "headcount": att["recorded_people"],
        "attendance_rate": att["attended"] / att["invited"] if att["invited"] else 0.0,
        "punctuality_rate": 1 - att["late"] / att["attended"] if att["attended"] else 0.0,
        "sites_per_conference": round(att["attended"] / n, 1) if n else 0.0,
        "by_level": by_level,
        "bucket": bucket,
        "by_period": by_period,
        "by_host": [{**unit_info(row["k"]), "count": row["n"]} for row in host_rows],
        "by_topic": [
            {"slug": r["topic__slug"], "name": r["topic__name"], "count": r["n"]}
            for r in topic_rows
        ],
        "by_unit": by_unit,
        "absence_reasons": [
            {"reason": r["absence_reason"] or NO_REASON, "count": r["n"]} for r in reasons
        ],
        "savings": savings,
        "savings_method": method,
    }


def _attendance_from_invitations(
    invitations, f: HistoryFilter, late_after, method: SavingsMethod
) -> tuple[list[dict], list[dict]]:
    """Per-unit attendance and absence reasons, aggregated from every invitation of the period."""
    unit_rows = list(
        invitations.annotate(k=unit_key("unit", mapped=f.successors))
        .values("k")
        .annotate(
            invited=Count("id"),
            attended=Count("id", filter=Q(status__in=ATTENDED)),
            excused=Count("id", filter=Q(status="absent_excused")),
            absent=Count("id", filter=Q(status="absent")),
            late=Count("id", filter=Q(status__in=ATTENDED, first_joined_at__gt=late_after)),
            recorded_people=Sum("headcount", filter=Q(status__in=ATTENDED)),
            attendees=Sum(attendees_expression(method), filter=Q(status__in=ATTENDED)),
            saving=Sum(
                saving_expression(method), filter=Q(status__in=ATTENDED), output_field=FloatField()
            ),
            km=Sum(
                distance_expression() * Value(2.0),
                filter=Q(status__in=ATTENDED),
                output_field=FloatField(),
            ),
        )
        .order_by()
    )
    reasons = list(
        invitations.filter(status__in=ABSENT)
        .values("absence_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "absence_reason")[:TOP_REASONS]
    )
    return unit_rows, reasons


def _attendance_from_summary(
    user, f: HistoryFilter, method: SavingsMethod
) -> tuple[list[dict], list[dict]]:
    """The same figures from the pre-aggregated summary (``reports.summary``).

    Rows are summed per (reported unit, invited unit, host) in SQL — a saving depends on the row
    only through those two units' distances and linearly on the sums — and the savings method
    is applied to those few thousand groups here (``reports.savings`` documents it), instead of
    evaluating it on every summary row of ten years.
    """
    parts = summary.summary_row_parts(user, f)
    columns = (
        "invited",
        "attended",
        "excused",
        "absent",
        "late",
        "headcount",
        "attended_without_headcount",
    )
    # Whole years and edge months are grouped apart and added here, key for key: the sums are
    # those of one query over the monthly rows.
    sums: dict[tuple[int, int, int], dict[str, Any]] = {}
    for rows in parts:
        for g in (
            rows.annotate(k=unit_key("unit", mapped=f.successors))
            .values("k", "unit_id", "host_unit_id")
            .annotate(**{f"s_{name}": Sum(name) for name in columns})
            .order_by()
        ):
            key = (g["k"], g["unit_id"], g["host_unit_id"])
            if key in sums:
                for name in columns:
                    sums[key][f"s_{name}"] = (sums[key][f"s_{name}"] or 0) + (g[f"s_{name}"] or 0)
            else:
                sums[key] = g
    grouped = list(sums.values())
    distance_of = dict(
        Unit.objects.filter(
            pk__in={g["unit_id"] for g in grouped} | {g["host_unit_id"] for g in grouped}
        ).values_list("pk", "distance_km")
    )
    per_unit: dict[int, dict[str, float | int]] = {}
    for g in grouped:
        distance = abs(float(distance_of[g["unit_id"]]) - float(distance_of[g["host_unit_id"]]))
        attended = g["s_attended"] or 0
        attendees = (g["s_headcount"] or 0) + (
            g["s_attended_without_headcount"] or 0
        ) * method.default_attendees
        per_diem = float(attendees * method.per_diem) if distance >= method.per_diem_min_km else 0.0
        row = per_unit.setdefault(
            g["k"],
            {
                "k": g["k"],
                "invited": 0,
                "attended": 0,
                "excused": 0,
                "absent": 0,
                "late": 0,
                "recorded_people": 0,
                "attendees": 0,
                "saving": 0.0,
                "km": 0.0,
            },
        )
        for name in ("invited", "attended", "excused", "absent", "late"):
            row[name] += g[f"s_{name}"] or 0
        row["recorded_people"] += g["s_headcount"] or 0
        row["attendees"] += attendees
        row["saving"] += attended * distance * 2.0 * method.cost_per_km + per_diem
        row["km"] += attended * distance * 2.0
    reasons = summary.summed_top(
        [
            rows.filter(Q(absent__gt=0) | Q(excused__gt=0))
            .values("absence_reason")
            .annotate(n=Sum(F("absent") + F("excused")))
            .order_by()
            for rows in parts
        ],
        key="absence_reason",
        total="n",
        limit=TOP_REASONS,
    )
    return list(per_unit.values()), reasons


_MAIN_LEVELS = {Level.FOUR_LEVEL, Level.PROVINCE_TO_DISTRICT, Level.DISTRICT_TO_COMMUNE}
