"""The clerk's join-link screen: every invited site with its personal join links — issue, copy,
resend by e-mail, revoke — and when each expires.

Managers of the conference only (others who may see it get 403, everyone else 404). Writes go
through ``conferences.services.join_links``; a refused action is a message and a 400, nothing saved.
"""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from conferences import joinlinks, permissions, selectors
from conferences.errors import DomainError, PermissionDeniedError
from conferences.models import Conference, PersonalJoinLink
from conferences.services import join_links as services
from conferences.services import scheduling


def _rows(conference: Conference) -> list[dict[str, object]]:
    invitations = list(
        conference.invitations.select_related("site", "unit").order_by("unit__path", "site__key")
    )
    holders = services.holder_choices(invitations)
    links: dict[int, list[PersonalJoinLink]] = {}
    for link in conference.join_links.select_related("user", "conference").order_by(
        "-created_at", "-id"
    ):
        links.setdefault(link.site_id, []).append(link)
    now = timezone.now()
    rows = []
    for inv in invitations:
        active, past = [], []
        for link in links.get(inv.site_id, []):
            link.state = services.link_state(link, now)
            link.url = joinlinks.link_url(link)
            link.remaining = _remaining(link.expires_at - now)
            (active if link.state == "active" else past).append(link)
        rows.append(
            {
                "invitation": inv,
                "active": active,
                "past": past,
                "holders": holders.get(inv.site_id, []),
                "is_chair_site": inv.site_id == conference.chair_site_id,
            }
        )
    return rows


def _remaining(delta) -> str:
    """“còn 2 ngày 5 giờ” / “còn 40 phút” (Django's timeuntil has no Vietnamese)."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("còn %(d)d ngày %(h)d giờ") % {"d": days, "h": hours}
    if hours:
        return _("còn %(h)d giờ %(m)d phút") % {"h": hours, "m": minutes}
    return _("còn %(m)d phút") % {"m": minutes}


def _page(request: HttpRequest, conference: Conference, *, status: int = 200) -> HttpResponse:
    rows = _rows(conference)
    closed = conference.status in services.CLOSED
    return render(
        request,
        "conferences/join_links.html",
        {
            "conference": conference,
            "tab": "links",
            "can_manage": True,
            "can_chair": permissions.can_chair(request.user, conference),
            "is_closed": conference.status in scheduling.CLOSED,
            "rows": rows,
            "closed": closed,
            "default_expiry": timezone.localtime(joinlinks.default_expiry(conference)),
            "counts": {
                "sites": len(rows),
                "with_link": sum(1 for r in rows if r["active"]),
                "active": sum(len(r["active"]) for r in rows),
                "without_holder": sum(1 for r in rows if not r["holders"]),
                "unsent": sum(1 for r in rows for link in r["active"] if link.sent_at is None),
            },
        },
        status=status,
    )


def _parse_expiry(raw: str):
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise DomainError(
            "bad_expiry", _("Thời hạn không hợp lệ (ngày giờ dạng dd/mm/yyyy hh:mm).")
        )
    return timezone.make_aware(value) if timezone.is_naive(value) else value


def _issue(request: HttpRequest, conference: Conference) -> str:
    invitation = (
        conference.invitations.select_related("site")
        .filter(site__code=_uuid_or_none(request.POST.get("site")))
        .first()
    )
    if invitation is None:
        raise DomainError("not_invited", _("Điểm cầu này không được mời dự hội nghị."))
    user_id = request.POST.get("user", "")
    user = get_user_model().objects.filter(pk=int(user_id)).first() if user_id.isdigit() else None
    link = services.join_link_issue(
        actor=request.user,
        conference=conference,
        site=invitation.site,
        user=user,
        expires_at=_parse_expiry(request.POST.get("expires_at", "")),
    )
    return _("Đã cấp liên kết cho %(user)s (%(site)s), hết hạn %(at)s.") % {
        "user": link.user.get_full_name() or link.user.get_username(),
        "site": invitation.site.name,
        "at": timezone.localtime(link.expires_at).strftime("%H:%M %d/%m/%Y"),
    }


def _link(conference: Conference, raw: str) -> PersonalJoinLink:
    link = conference.join_links.filter(pk=int(raw)).first() if raw.isdigit() else None
    if link is None:
        raise DomainError("not_found", _("Không tìm thấy liên kết này."))
    return link


def _uuid_or_none(raw) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def conference_join_links(request: HttpRequest, code) -> HttpResponse:
    conference = selectors.conference_for_user(user=request.user, code=code)
    if not permissions.can_manage(request.user, conference):
        raise PermissionDenied(_("Chỉ văn thư quản lý hội nghị cấp được liên kết tham dự."))
    if request.method == "GET":
        return _page(request, conference)
    action = request.POST.get("action", "")
    warnings: list[str] = []
    try:
        if action == "issue":
            done = _issue(request, conference)
        elif action == "revoke":
            link = services.join_link_revoke(
                actor=request.user, link=_link(conference, request.POST.get("link", ""))
            )
            done = _("Đã thu hồi liên kết của %(user)s (%(site)s).") % {
                "user": link.user.get_full_name() or link.user.get_username(),
                "site": link.site.name,
            }
        elif action == "issue_missing":
            issued, nobody = services.join_links_issue_missing(
                actor=request.user,
                conference=conference,
                expires_at=_parse_expiry(request.POST.get("expires_at", "")),
            )
            done = _("Đã cấp %(n)d liên kết.") % {"n": len(issued)}
            if nobody:
                warnings.append(
                    _(
                        "%(n)d điểm cầu chưa có tài khoản cán bộ kỹ thuật nên chưa cấp được: %(names)s."
                    )
                    % {"n": len(nobody), "names": ", ".join(nobody)},
                )
        elif action == "send_unsent":
            sent, unreachable = services.join_links_send_unsent(
                actor=request.user, conference=conference
            )
            done = _("Đã gửi %(n)d liên kết qua e-mail.") % {"n": sent}
            if unreachable:
                warnings.append(
                    _("Chưa gửi được cho %(n)d điểm cầu vì chưa có địa chỉ e-mail: %(names)s.")
                    % {"n": len(unreachable), "names": ", ".join(unreachable)},
                )
        elif action == "send":
            recipients = services.join_link_send(
                actor=request.user, link=_link(conference, request.POST.get("link", ""))
            )
            done = _("Đã gửi liên kết tới %(emails)s.") % {"emails": ", ".join(recipients)}
        else:
            raise DomainError("bad_action", _("Thao tác không hợp lệ."))
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return _page(request, conference, status=400)
    messages.success(request, done)
    for warning in warnings:
        messages.warning(request, warning)
    return redirect("conference_join_links", code=conference.code)
