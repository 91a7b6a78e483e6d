"""The clerk's observer list: who may watch the live conference without a site
(``conferences.services.observers``). Managers of the conference only (others who may see it
get 403, everyone else 404); a refused change is a message and a 400, nothing saved."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from conferences import permissions, selectors
from conferences.errors import DomainError, PermissionDeniedError
from conferences.services import observers as services
from conferences.services import scheduling


def _page(request: HttpRequest, conference, *, status: int = 200) -> HttpResponse:
    listed = list(conference.observers.select_related("user").order_by("added_at", "id"))
    taken = {o.user_id for o in listed}
    candidates = [u for u in services.observer_candidates(conference) if u.pk not in taken]
    return render(
        request,
        "conferences/observers.html",
        {
            "conference": conference,
            "tab": "observers",
            "can_manage": True,
            "can_chair": permissions.can_chair(request.user, conference),
            "is_closed": conference.status in scheduling.CLOSED,
            "closed": conference.status in services.CLOSED,
            "observers": listed,
            "candidates": candidates[:500],
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def conference_observers(request: HttpRequest, code) -> HttpResponse:
    conference = selectors.conference_for_user(user=request.user, code=code)
    if not permissions.can_manage(request.user, conference):
        raise PermissionDenied(_("Chỉ văn thư quản lý hội nghị mời được người theo dõi."))
    if request.method == "GET":
        return _page(request, conference)
    raw = request.POST.get("user", "")
    user = get_user_model().objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    try:
        if request.POST.get("action") == "add":
            services.observer_add(actor=request.user, conference=conference, user=user)
            done = _("Đã mời %(name)s theo dõi hội nghị.")
        elif request.POST.get("action") == "remove" and user is not None:
            services.observer_remove(actor=request.user, conference=conference, user=user)
            done = _("Đã bỏ %(name)s khỏi danh sách theo dõi.")
        else:
            raise DomainError("bad_action", _("Thao tác không hợp lệ."))
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        messages.error(request, exc.message)
        return _page(request, conference, status=400)
    messages.success(request, done % {"name": user.get_full_name() or user.get_username()})
    return redirect("conference_observers", code=conference.code)
