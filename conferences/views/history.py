"""Leaders' history pages: dashboard, search, one conference's history, savings, exports.

Thin: parse the shared filter (400 with the form's errors on bad input), ask the selectors in
``conferences.reports``, render. Every page is scoped by ``visible_conferences`` through them.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from conferences import history_exports
from conferences.folding import fold_words
from conferences.models import AttendanceStatus, Level, Topic
from conferences.permissions import can_view_minutes, visible_conferences
from conferences.reports.dashboard import dashboard_figures
from conferences.reports.filters import HistoryFilter, parse_filter, units_within_reach
from conferences.reports.formats import vn_money_short, vn_number, vn_percent, vn_period
from conferences.reports.overview import overview_figures
from conferences.reports.savings import (
    SavingsMethod,
    conference_savings,
    savings_by_conference,
)
from conferences.reports.search import MAX_PAGE_SIZE, history_invitations, history_page
from conferences.reports.successors import successors_loaded
from conferences.reports.units import Ambiguous, resolve_unit, suggest_units
from conferences.services.topics import NAME_MAX, topic_suggestions
from conferences.timeline import HISTORY_ACTIONS, chat_actions_hidden_from, timeline_rows

DEFAULT_PAGE_SIZE = 50


def _bad_request(request, template: str, form, context=None) -> HttpResponse:
    ctx = {"form": form, "errors": form.error_list(), **_common(HistoryFilter()), **(context or {})}
    return render(request, template, ctx, status=400)


def _paging(request) -> tuple[int, int] | None:
    try:
        page = int(request.GET.get("page", "1"))
        size = int(request.GET.get("page_size", str(DEFAULT_PAGE_SIZE)))
    except ValueError:
        return None
    if page < 1 or page > 100_000 or size < 1 or size > MAX_PAGE_SIZE:
        return None
    return page, size


def _common(f: HistoryFilter) -> dict:
    this_year = dt.date.today().year
    return {
        "query": f.as_query(),
        "successors_available": successors_loaded(),
        "levels": Level.choices,
        "preset_years": list(range(this_year - 5, this_year + 1)),
    }


@login_required
@require_GET
def history_dashboard(request):
    f, form = parse_filter(request.GET, user=request.user)
    if f is None:
        return _bad_request(request, "conferences/history/dashboard.html", form)
    figures = dashboard_figures(request.user, f)
    return render(
        request,
        "conferences/history/dashboard.html",
        {
            "form": form,
            "fig": figures,
            "fmt": _formatted(figures),
            "charts": _charts(figures),
            **_common(f),
        },
    )


def vn_int(value: int | float) -> str:
    """12345 → "12.345" (Vietnamese thousands separator)."""
    return vn_number(value)


pct = vn_percent


def _formatted(fig: dict) -> dict:
    for row in fig["by_unit"]:
        row["rate_pct"] = pct(row["rate"])
        row["rate_width"] = round(row["rate"] * 100)
    return {
        "conferences": vn_int(fig["conferences"]),
        "attendance_rate": pct(fig["attendance_rate"]),
        "attended": vn_int(fig["attended"]),
        "invited": vn_int(fig["invited"]),
        "late": vn_int(fig["late"]),
        "punctuality_rate": pct(fig["punctuality_rate"]),
        "hours": vn_int(fig["total_minutes"] / 60),
        "savings": _money_short(fig["savings"]["total"]),
        "km": vn_int(fig["savings"]["km"]),
    }


_money_short = vn_money_short


def _charts(fig: dict) -> dict:
    return {
        "period": [{"label": r["label"], "value": r["count"]} for r in fig["by_period"]],
        "level": [{"label": r["label"], "value": r["count"]} for r in fig["by_level"]],
        "host": [{"label": r["name"], "value": r["count"]} for r in fig["by_host"]],
        "topic": [{"label": r["name"], "value": r["count"]} for r in fig["by_topic"]],
        "reasons": [{"label": r["reason"], "value": r["count"]} for r in fig["absence_reasons"]],
    }


@login_required
@require_GET
def history_overview(request):
    """The leader's one-page overview (``reports.overview``)."""
    fig = overview_figures(request.user)
    cards = []
    for key, compare, title in (
        (
            "month",
            "month_last_year",
            _("Tháng %(m)s đến nay") % {"m": fig["month"]["first"].strftime("%m/%Y")},
        ),
        (
            "year",
            "year_last_year",
            _("Năm %(y)s đến nay") % {"y": fig["years"][0]},
        ),
    ):
        now, before = fig[key], fig[compare]
        cards.append(
            {
                "key": key,
                "title": title,
                "period": vn_period(now["first"], now["last"]),
                "compare_period": vn_period(before["first"], before["last"]),
                "now": now,
                "before": before,
                "conferences": vn_number(now["conferences"]),
                "conferences_delta": _delta(now["conferences"], before["conferences"]),
                "levels": [
                    {**lvl, "before": prev["count"], "count_fmt": vn_number(lvl["count"])}
                    for lvl, prev in zip(now["by_level"], before["by_level"], strict=True)
                ],
                "attended": vn_number(now["attended"]),
                "attended_delta": _delta(now["attended"], before["attended"]),
                "rate": vn_percent(now["attendance_rate"]),
                "rate_before": vn_percent(before["attendance_rate"]),
                "rate_delta": _points(now["attendance_rate"], before["attendance_rate"]),
                "savings": vn_money_short(now["savings"]),
                "savings_before": vn_money_short(before["savings"]),
                "savings_delta": _delta(now["savings"], before["savings"]),
            }
        )
    for row in fig["lowest_units"]:
        row["rate_fmt"] = vn_percent(row["rate"])
        row["query"] = {
            "unit": row["code"],
            "date_from": row["first"].isoformat(),
            "date_to": row["last"].isoformat(),
        }
    return render(
        request,
        "conferences/history/overview.html",
        {
            "fig": fig,
            "cards": cards,
            "this_year": fig["years"][0],
            "last_year": fig["years"][1],
            "last_year_total": vn_number(fig["last_year"]["conferences"]),
        },
    )


def _delta(now: float, before: float) -> dict | None:
    """Change against last year as a percentage ("▲ 12 %"), None when last year had nothing."""
    if not before:
        return None
    change = (now - before) / before
    return {
        "up": change >= 0,
        "text": f"{'▲' if change >= 0 else '▼'} {vn_percent(abs(change), 0)}",
    }


def _points(now: float | None, before: float | None) -> dict | None:
    if now is None or before is None:
        return None
    change = (now - before) * 100
    return {
        "up": change >= 0,
        "text": f"{'▲' if change >= 0 else '▼'} {vn_number(abs(change), 1)} " + _("điểm %"),
    }


@login_required
@require_GET
def history_search(request):
    f, form = parse_filter(request.GET, user=request.user)
    paging = _paging(request)
    if f is None:
        return _bad_request(request, "conferences/history/search.html", form)
    if paging is None:
        form.add_error(
            None,
            _("Trang hoặc cỡ trang không hợp lệ (tối đa %(n)s dòng một trang).")
            % {"n": MAX_PAGE_SIZE},
        )
        return _bad_request(request, "conferences/history/search.html", form)
    page, size = paging
    rows, total = history_page(request.user, f, page=page, page_size=size)
    pages = max(1, (total + size - 1) // size)
    return render(
        request,
        "conferences/history/search.html",
        {
            "form": form,
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "page_size": size,
            "prev_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < pages else None,
            **_common(f),
        },
    )


@login_required
@require_GET
def history_conference(request, code):
    conference = (
        visible_conferences(request.user)
        .select_related("host_unit", "chair_site")
        .filter(code=code)
        .first()
    )
    if conference is None:
        raise Http404
    invitations = history_invitations(
        request.user, HistoryFilter(), visible_conferences(request.user).filter(pk=conference.pk)
    )
    attendance = list(
        invitations.select_related("site", "unit").order_by("unit__path", "site__key")
    )
    method = SavingsMethod.from_settings()
    savings = conference_savings(conference, invitations, method)
    agenda = list(conference.agenda_items.all())
    from recordings.playback import link_timeline  # recordings builds on conferences

    timeline = link_timeline(
        request.user,
        conference,
        timeline_rows(
            conference,
            actions=HISTORY_ACTIONS - chat_actions_hidden_from(request.user, conference),
        ),
    )
    late_after = conference.planned_start + dt.timedelta(minutes=_late_minutes())
    for inv in attendance:
        inv.is_late = bool(inv.first_joined_at and inv.first_joined_at > late_after)
    counts = {s: sum(1 for i in attendance if i.status == s) for s in AttendanceStatus.values}
    return render(
        request,
        "conferences/history/conference.html",
        {
            "conference": conference,
            "attendance": attendance,
            "agenda": agenda,
            "timeline": timeline,
            "counts": counts,
            "attended": counts["present"] + counts["connected"],
            "savings": savings,
            "savings_total": sum(s.total for s in savings),
            "savings_total_fmt": vn_int(sum(s.total for s in savings)),
            "savings_rows": [
                {
                    "invitation": s.invitation,
                    "distance_km": s.distance_km,
                    "attendees": s.attendees,
                    "headcount_recorded": s.headcount_recorded,
                    "travel_fmt": vn_int(s.travel),
                    "per_diem_fmt": vn_int(s.per_diem),
                    "total_fmt": vn_int(s.total),
                }
                for s in savings
            ],
            "topics": list(conference.topics.all()),
            "method": method,
            "conclusions": conference.conclusions
            if can_view_minutes(request.user, conference)
            else "",
        },
    )


def _late_minutes() -> int:
    return settings.HISTORY_LATE_MINUTES


@login_required
@require_GET
def history_savings(request):
    f, form = parse_filter(request.GET, user=request.user)
    paging = _paging(request)
    if f is None or paging is None:
        if paging is None:
            form.add_error(
                None,
                _("Trang hoặc cỡ trang không hợp lệ (tối đa %(n)s dòng một trang).")
                % {"n": MAX_PAGE_SIZE},
            )
        return _bad_request(
            request,
            "conferences/history/savings.html",
            form,
            {"method": SavingsMethod.from_settings()},
        )
    page, size = paging
    method = SavingsMethod.from_settings()
    invitations = history_invitations(request.user, f)
    rows, total = history_page(request.user, f, page=page, page_size=size)
    per_conf = savings_by_conference(invitations, [c.pk for c in rows], method)
    for conf in rows:
        conf.saving = per_conf.get(conf.pk, 0)
        conf.saving_fmt = vn_int(conf.saving)
    # Totals from the dashboard's figures (the summaries where exact): the same method and sums
    # as over the invitations, without reading a year of them on every page.
    totals = dashboard_figures(request.user, f)["savings"]
    pages = max(1, (total + size - 1) // size)
    return render(
        request,
        "conferences/history/savings.html",
        {
            "form": form,
            "method": method,
            "method_rows": [
                (label, history_exports._text(value, ""))
                for label, value in history_exports.method_rows(method)
            ],
            "method_note": history_exports.METHOD_NOTE,
            "totals": totals,
            "totals_fmt": {k: vn_int(v) for k, v in totals.items()},
            "method_fmt": {
                "cost_per_km": vn_int(method.cost_per_km),
                "per_diem": vn_int(method.per_diem),
            },
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "prev_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < pages else None,
            "example": _worked_example(method),
            **_common(f),
        },
    )


def _worked_example(method: SavingsMethod) -> dict:
    distance, attendees = 60, 12
    travel = 2 * distance * method.cost_per_km
    per_diem = attendees * method.per_diem if distance >= method.per_diem_min_km else 0
    return {
        "distance": distance,
        "attendees": attendees,
        "travel": vn_int(travel),
        "per_diem": vn_int(per_diem),
        "total": vn_int(travel + per_diem),
    }


@login_required
@require_GET
def history_export(request, what: str, fmt: str):
    f, form = parse_filter(request.GET, user=request.user)
    if f is None:
        return HttpResponse(
            "; ".join(form.error_list()), status=400, content_type="text/plain; charset=utf-8"
        )
    stamp = dt.date.today().isoformat()
    xlsx = fmt == "xlsx"
    if what == "dashboard":
        figures = dashboard_figures(request.user, f)
        body = (
            history_exports.dashboard_xlsx(figures, f)
            if xlsx
            else history_exports.dashboard_pdf(figures, f)
        )
    elif what == "savings":
        figures, method = dashboard_figures(request.user, f), SavingsMethod.from_settings()
        export = history_exports.savings_xlsx if xlsx else history_exports.savings_pdf
        body = export(request.user, f, figures, method)
    else:
        body = (
            history_exports.search_xlsx(request.user, f)
            if xlsx
            else history_exports.search_pdf(request.user, f)
        )
    content_type = history_exports.CONTENT_TYPES[fmt]
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="giaoban-{what}-{stamp}.{fmt}"'
    return response


@login_required
@require_GET
def topic_suggest(request):
    """Existing topics for the word being typed (the conference form's topics field)."""
    text = (request.GET.get("q") or "")[:NAME_MAX]
    key = fold_words(text)
    exact = Topic.objects.filter(key=key).first() if key else None
    results = [_topic_row(t) for t in topic_suggestions(text)] if key else []
    return JsonResponse({"results": results, "exact": _topic_row(exact) if exact else None})


def _topic_row(topic: Topic) -> dict[str, str]:
    return {"label": topic.name, "value": topic.name, "slug": topic.slug}


@login_required
@require_GET
def history_unit_suggest(request):
    """Units within the user's reach whose name starts with the typed words (the unit filter)."""
    text = (request.GET.get("q") or "")[:200]
    units = units_within_reach(request.user)
    results = [
        {"label": c.label, "value": c.value, "code": c.unit.code}
        for c in suggest_units(units, text)
    ]
    try:
        exact = resolve_unit(units, text)
    except Ambiguous:
        exact = None
    return JsonResponse(
        {
            "results": results,
            "exact": {
                "label": exact.name,
                "value": f"{exact.name} ({exact.code})",
                "code": exact.code,
            }
            if exact
            else None,
        }
    )
