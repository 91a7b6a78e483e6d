"""The leader's overview: what a provincial leader opens on Monday morning, on one page.

This month and this year so far against the same days of last year (conferences by level,
sites connected, attendance rate, savings), the units with the lowest attendance over the last
twelve months, and the next scheduled conferences. Months are whole calendar months (ended
conferences of this month are all in the past anyway), so the figures come from the history
summaries where they are exact — a few grouped queries over two years of summary rows — and
from the conferences and invitations otherwise (``reports.summary``).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, FloatField, Q, Sum
from django.db.models.functions import Cast, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conferences.models import Level, Status
from conferences.permissions import visible_conferences
from conferences.reports import summary
from conferences.reports.expressions import ATTENDED
from conferences.reports.filters import HistoryFilter
from conferences.reports.savings import SavingsMethod, saving_expression
from conferences.reports.search import history_conferences, history_invitations
from conferences.reports.successors import unit_key
from portal.models import Unit

MAIN_LEVELS = (Level.FOUR_LEVEL, Level.PROVINCE_TO_DISTRICT, Level.DISTRICT_TO_COMMUNE)
SHORT_LEVELS = {
    Level.FOUR_LEVEL: _("4 cấp"),
    Level.PROVINCE_TO_DISTRICT: _("Tỉnh → huyện"),
    Level.DISTRICT_TO_COMMUNE: _("Huyện → xã"),
}
LOWEST_UNITS = 5
MIN_INVITED = (
    3  # a unit invited fewer times in the window is not ranked (one absence is not a trend)
)
NEXT_CONFERENCES = 6


@dataclass(frozen=True)
class Period:
    key: str
    first: dt.date  # first day of the first month
    last: dt.date  # first day of the last month

    def months(self) -> list[dt.date]:
        out, month = [], self.first
        while month <= self.last:
            out.append(month)
            month = _next_month(month)
        return out


def _next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _end_of(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def periods(today: dt.date) -> dict[str, Period]:
    this_month = today.replace(day=1)
    last_year_month = this_month.replace(year=this_month.year - 1)
    return {
        "month": Period("month", this_month, this_month),
        "month_last_year": Period("month_last_year", last_year_month, last_year_month),
        "year": Period("year", this_month.replace(month=1), this_month),
        "year_last_year": Period(
            "year_last_year", last_year_month.replace(month=1), last_year_month
        ),
        "last_year": Period(
            "last_year", last_year_month.replace(month=1), last_year_month.replace(month=12)
        ),
    }


def overview_figures(user, *, today: dt.date | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    spans = periods(today)
    window = HistoryFilter(date_from=spans["last_year"].first, date_to=_end_of(spans["month"].last))
    method = SavingsMethod.from_settings()
    conf_rows, att_rows = _monthly(user, window, method)

    def figures(period: Period) -> dict[str, Any]:
        months = set(period.months())
        by_level = {level: 0 for level in MAIN_LEVELS}
        total = 0
        for (month, level), n in conf_rows.items():
            if month in months:
                total += n
                if level in by_level:
                    by_level[level] += n
        invited = sum(v["invited"] for m, v in att_rows.items() if m in months)
        attended = sum(v["attended"] for m, v in att_rows.items() if m in months)
        saving = sum(v["saving"] for m, v in att_rows.items() if m in months)
        return {
            "first": period.first,
            "last": _end_of(period.last),
            "conferences": total,
            "by_level": [
                {"key": key, "label": str(SHORT_LEVELS[key]), "count": by_level[key]}
                for key in MAIN_LEVELS
            ],
            "invited": invited,
            "attended": attended,
            "attendance_rate": attended / invited if invited else None,
            "savings": round(saving),
        }

    out = {key: figures(period) for key, period in spans.items()}
    # Last year "so far": this month's days up to today's date only (from the conferences and
    # invitations of those days; the summaries know whole months), the months before whole.
    last_year_day = _same_day_last_year(today)
    partial = _partial_month(user, spans["month_last_year"].first, last_year_day, method)
    whole = (
        figures(Period("before", spans["year_last_year"].first, spans["month_last_year"].first))
        if today.month > 1
        else None
    )
    out["month_last_year"] = {
        **partial,
        "first": spans["month_last_year"].first,
        "last": last_year_day,
    }
    out["year_last_year"] = _add(
        partial, _minus_month(whole, figures(spans["month_last_year"])) if whole else None
    )
    out["year_last_year"].update(first=spans["year_last_year"].first, last=last_year_day)
    out["month"]["last"] = out["year"]["last"] = today
    this_year, last_year = spans["year"].first.year, spans["last_year"].first.year
    out["monthly"] = [
        {
            "month": month,
            "this_year": sum(
                n for (m, _lvl), n in conf_rows.items() if m == month.replace(year=this_year)
            ),
            "last_year": sum(n for (m, _lvl), n in conf_rows.items() if m == month),
            "future": month.replace(year=this_year) > spans["month"].last,
        }
        for month in spans["last_year"].months()
    ]
    out["years"] = (this_year, last_year)
    out["lowest_units"] = _lowest_units(user, today)
    out["next_conferences"] = _next_conferences(user)
    out["today"] = today
    return out


def _same_day_last_year(today: dt.date) -> dt.date:
    try:
        return today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year - 1, day=28)


def _partial_month(user, first: dt.date, last: dt.date, method: SavingsMethod) -> dict[str, Any]:
    """The same figures for the days ``first``–``last`` of one month, exactly."""
    f = HistoryFilter(date_from=first, date_to=last)
    levels = dict(
        history_conferences(user, f).values_list("level").annotate(n=Count("id")).order_by()
    )
    att = history_invitations(user, f).aggregate(
        i=Count("id"),
        a=Count("id", filter=Q(status__in=ATTENDED)),
        s=Sum(saving_expression(method), filter=Q(status__in=ATTENDED), output_field=FloatField()),
    )
    invited, attended = att["i"] or 0, att["a"] or 0
    return {
        "conferences": sum(levels.values()),
        "by_level": [
            {"key": key, "label": str(SHORT_LEVELS[key]), "count": levels.get(key, 0)}
            for key in MAIN_LEVELS
        ],
        "invited": invited,
        "attended": attended,
        "attendance_rate": attended / invited if invited else None,
        "savings": round(att["s"] or 0),
    }


def _combine(a: dict[str, Any], b: dict[str, Any] | None, sign: int) -> dict[str, Any]:
    if b is None:
        return dict(a)
    invited = a["invited"] + sign * b["invited"]
    attended = a["attended"] + sign * b["attended"]
    return {
        "conferences": a["conferences"] + sign * b["conferences"],
        "by_level": [
            {**x, "count": x["count"] + sign * y["count"]}
            for x, y in zip(a["by_level"], b["by_level"], strict=True)
        ],
        "invited": invited,
        "attended": attended,
        "attendance_rate": attended / invited if invited else None,
        "savings": a["savings"] + sign * b["savings"],
    }


def _add(a: dict[str, Any], b: dict[str, Any] | None) -> dict[str, Any]:
    return _combine(a, b, 1)


def _minus_month(whole: dict[str, Any], month: dict[str, Any]) -> dict[str, Any]:
    """January up to the month before: the months Jan..M (whole) minus month M."""
    return _combine(whole, month, -1)


def _monthly(user, f: HistoryFilter, method: SavingsMethod) -> tuple[dict, dict]:
    """Conferences per (month, level) and attendance per month over the window."""
    exact = summary.summary_applies(user, f)
    conference_rows = summary.conference_summary_rows(user, f) if exact else None
    if conference_rows is not None:
        grouped = (
            conference_rows.filter(topic__isnull=True)
            .values("month", "level")
            .annotate(n=Sum("conferences"))
            .order_by()
        )
        conf = {(r["month"], r["level"]): r["n"] for r in grouped}
    else:
        grouped = (
            history_conferences(user, f)
            .annotate(m=TruncMonth("planned_start"))
            .values("m", "level")
            .annotate(n=Count("id"))
            .order_by()
        )
        conf = {(_as_date(r["m"]), r["level"]): r["n"] for r in grouped}
    if exact:
        rows = (
            summary.summary_rows(user, f)
            .values("month")
            .annotate(
                i=Sum("invited"),
                a=Sum("attended"),
                s=Sum(summary.summary_saving(method), output_field=FloatField()),
            )
            .order_by()
        )
        att = {
            r["month"]: {"invited": r["i"] or 0, "attended": r["a"] or 0, "saving": r["s"] or 0.0}
            for r in rows
        }
    else:
        rows = (
            history_invitations(user, f)
            .annotate(m=TruncMonth("conference__planned_start"))
            .values("m")
            .annotate(
                i=Count("id"),
                a=Count("id", filter=Q(status__in=ATTENDED)),
                s=Sum(
                    saving_expression(method),
                    filter=Q(status__in=ATTENDED),
                    output_field=FloatField(),
                ),
            )
            .order_by()
        )
        att = {
            _as_date(r["m"]): {"invited": r["i"], "attended": r["a"], "saving": r["s"] or 0.0}
            for r in rows
        }
    return conf, att


def _as_date(value) -> dt.date:
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.date().replace(day=1)
    return value


def _lowest_units(user, today: dt.date) -> list[dict[str, Any]]:
    """The units with the lowest attendance over the last twelve whole months (this one too)."""
    this_month = today.replace(day=1)
    first = this_month.replace(year=this_month.year - 1)
    first = _next_month(first)
    f = HistoryFilter(date_from=first, date_to=_end_of(this_month))
    if summary.summary_applies(user, f):
        rows = (
            summary.summary_rows(user, f)
            .annotate(k=unit_key("unit", mapped=False))
            .values("k")
            .annotate(i=Sum("invited"), a=Sum("attended"))
        )
    else:
        rows = (
            history_invitations(user, f)
            .annotate(k=F("unit_id"))
            .values("k")
            .annotate(i=Count("id"), a=Count("id", filter=Q(status__in=ATTENDED)))
        )
    ranked = (
        rows.filter(i__gte=MIN_INVITED)
        .annotate(rate=Cast("a", FloatField()) / Cast("i", FloatField()))
        .order_by("rate", "-i", "k")[:LOWEST_UNITS]
    )
    ranked = list(ranked)
    units = Unit.objects.only("id", "code", "name").in_bulk([r["k"] for r in ranked])
    return [
        {
            "code": units[r["k"]].code,
            "name": units[r["k"]].name,
            "invited": r["i"],
            "attended": r["a"],
            "rate": r["rate"],
            "first": first,
            "last": _end_of(this_month),
        }
        for r in ranked
        if r["k"] in units
    ]


def _next_conferences(user) -> list:
    now = timezone.now()
    return list(
        visible_conferences(user)
        .filter(status__in=[Status.SCHEDULED, Status.LIVE], planned_end__gte=now)
        .select_related("host_unit")
        .annotate(n_sites=Count("invitations"))
        .order_by("planned_start", "id")[:NEXT_CONFERENCES]
    )
