"""Site operators' pages: "my conferences", the per-conference page of one site (confirm, mark
readiness, answer the roll call), the calendar feed and its rotation.

A site is addressed by its UUID; a user who does not operate it, or a site not invited, gets 404
— the same answer as a code that does not exist.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conferences import live_links
from conferences.calendar import FEED_PAST, feed_ics
from conferences.errors import DomainError, PermissionDeniedError
from conferences.forms_attendance import OperatorAnswerForm
from conferences.models import CalendarFeed, Conference, Invitation, Status
from conferences.services import invitations as invitation_services
from conferences.services import rollcall as rollcall_services
from portal import permissions as org
from portal.models import Site

ACTIVE = (Status.SCHEDULED, Status.LIVE)


@login_required
@require_GET
def my_conferences(request: HttpRequest) -> HttpResponse:
    sites = list(org.sites_operated_by(request.user).select_related("unit"))
    now = timezone.now()
    invitations = (
        Invitation.objects.filter(site__in=[s.pk for s in sites])
        .exclude(conference__status=Status.DRAFT)
        .select_related("conference", "conference__host_unit", "site")
    )
    upcoming = invitations.filter(
        conference__status__in=ACTIVE, conference__planned_end__gte=now - dt.timedelta(hours=12)
    )
    past = invitations.exclude(pk__in=upcoming.values("pk")).filter(
        conference__planned_start__lt=now + dt.timedelta(days=365)
    )
    feeds = [
        (site, _feed_url(request, invitation_services.calendar_feed_for(site)))
        for site in sites[:20]
    ]
    rows = []
    entries_of: dict[int, list[live_links.LiveEntry]] = {}
    for inv in upcoming.select_related("conference__chair_site").order_by(
        "conference__planned_start", "site__key"
    ):
        entries = []
        if live_links.room_open(inv.conference, now):
            if inv.conference_id not in entries_of:
                entries_of[inv.conference_id] = live_links.live_entries(
                    user=request.user, conference=inv.conference, now=now
                )
            entries = _row_entries(entries_of[inv.conference_id], inv)
        rows.append({"invitation": inv, "entries": entries})
    return render(
        request,
        "conferences/operator_list.html",
        {
            "sites": sites,
            "rows": rows,
            "open_now": [r for r in rows if r["entries"]],
            "past": past.order_by("-conference__planned_start", "site__key")[:30],
            "cancelled_upcoming": invitations.filter(
                conference__status=Status.CANCELLED, conference__planned_start__gte=now
            ).order_by("conference__planned_start")[:10],
            "feeds": feeds,
        },
    )


def _row_entries(
    entries: list[live_links.LiveEntry], invitation: Invitation
) -> list[live_links.LiveEntry]:
    """The buttons of one site's row: its room; for the chair site, the console (when the user
    chairs) or the host room's page."""
    code = str(invitation.site.code)
    mine = [e for e in entries if e.site_code == code]
    if invitation.site_id == invitation.conference.chair_site_id:
        mine += [e for e in entries if e.kind == live_links.CONSOLE]
    return mine


def _feed_url(request: HttpRequest, feed: CalendarFeed) -> str:
    return request.build_absolute_uri(reverse("calendar_feed", args=[feed.token]))


def _operated_invitation(request: HttpRequest, code, site_code) -> Invitation:
    invitation = (
        Invitation.objects.select_related(
            "conference",
            "conference__host_unit",
            "conference__chair_site",
            "site",
            "unit",
            "ready_by",
        )
        .filter(conference__code=code, site__code=site_code)
        .exclude(conference__status=Status.DRAFT)
        .first()
    )
    if invitation is None or not org.operates_site(request.user, invitation.site):
        raise Http404(_("Không tìm thấy hội nghị của điểm cầu này."))
    return invitation


@login_required
@require_http_methods(["GET", "POST"])
def operator_conference(request: HttpRequest, code, site_code) -> HttpResponse:
    invitation = _operated_invitation(request, code, site_code)
    conference = invitation.conference
    open_call = rollcall_services.open_roll_call(conference)
    answer_form = OperatorAnswerForm(
        initial={"leader_name": invitation.leader_name, "leader_title": invitation.leader_title}
    )
    error = ""
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "confirm":
                invitation_services.invitation_confirm(actor=request.user, invitation=invitation)
                messages.success(request, _("Đã xác nhận tham dự."))
                return redirect(request.path)
            if action == "ready":
                invitation_services.invitation_mark_ready(actor=request.user, invitation=invitation)
                messages.success(request, _("Đã ghi nhận hoàn thành kiểm tra kỹ thuật."))
                return redirect(request.path)
            if action == "answer":
                answer_form = OperatorAnswerForm(request.POST)
                if answer_form.is_valid():
                    if open_call is None:
                        raise DomainError("roll_call_closed", _("Không có lượt điểm danh đang mở."))
                    data = answer_form.cleaned_data
                    rollcall_services.rollcall_answer(
                        actor=request.user,
                        roll_call=open_call,
                        invitation=invitation,
                        headcount=data["headcount"],
                        source="site",
                        leader_name=data["leader_name"],
                        leader_title=data["leader_title"],
                    )
                    messages.success(request, _("Đã trả lời điểm danh."))
                    return redirect(request.path)
            else:
                return HttpResponse(_("Thao tác không hợp lệ."), status=400)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except DomainError as exc:
            error = exc.message
            if action == "answer":
                answer_form.add_error(None, exc.message)
        status = 400
    answered = open_call.answers.filter(invitation=invitation).first() if open_call else None
    return render(
        request,
        "conferences/operator_conference.html",
        {
            "invitation": invitation,
            "conference": conference,
            "site": invitation.site,
            "open_call": open_call,
            "answered": answered,
            "answer_form": answer_form,
            "error": error,
            "agenda": conference.agenda_items.select_related("presenter_unit", "presenter_site"),
            "can_ready": conference.status == Status.SCHEDULED,
            "can_confirm": conference.status in ACTIVE and invitation.confirmed_at is None,
            "feed_url": _feed_url(request, invitation_services.calendar_feed_for(invitation.site)),
            "history": invitation.entries.select_related("recorded_by").order_by(
                "-recorded_at", "-id"
            )[:20],
        },
        status=status,
    )


@login_required
@require_POST
def calendar_feed_rotate(request: HttpRequest, site_code) -> HttpResponse:
    site = get_object_or_404(Site.objects.select_related("unit"), code=site_code)
    if not org.can_edit_site(request.user, site):
        raise Http404(_("Không tìm thấy điểm cầu."))
    try:
        invitation_services.calendar_feed_rotate(actor=request.user, site=site)
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc
    messages.success(
        request, _("Đã đổi địa chỉ lịch của điểm cầu; địa chỉ cũ không còn dùng được.")
    )
    target = request.POST.get("next", "")
    return redirect(
        target
        if target.startswith("/") and not target.startswith("//")
        else reverse("my_conferences")
    )


@require_GET
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The site's feed: no login — the unguessable token is the credential."""
    feed = CalendarFeed.objects.select_related("site").filter(token=token).first()
    if feed is None or not token:
        raise Http404
    since = timezone.now() - FEED_PAST
    conferences = (
        Conference.objects.filter(invitations__site=feed.site, planned_end__gte=since)
        .filter(~Q(status=Status.DRAFT))
        .select_related("host_unit", "chair_site")
        .order_by("planned_start")
        .distinct()[:200]
    )
    response = HttpResponse(
        feed_ics(feed.site.name, conferences), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="giaoban.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
